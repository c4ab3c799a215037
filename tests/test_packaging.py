"""pyproject.toml: the dependencies follow the requirements.txt lock, and `pip install .` and
`pip install -e .` give a working `harvest` command in a fresh virtual environment."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP_PARTS = {".git", ".venv", ".venvs", "datasets", "build", "__pycache__", ".pytest_cache"}


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_dependencies_are_the_locked_packages_with_their_tested_versions_as_floors() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {}
    for spec in project["dependencies"]:
        name, floor = re.match(r"([A-Za-z0-9_.\-]+(?:\[[a-z,]+\])?)>=([0-9][^,;\s]*)", spec).groups()
        declared[name.lower()] = floor
    pins = pinned_requirements()
    assert declared.pop("tensorflow") == pins["tensorflow-cpu"]  # its name off Linux
    assert declared == pins


def copy_source(target: Path) -> Path:
    """The checkout without its venv, datasets and build leftovers (pip builds in place)."""
    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP_PARTS or n.endswith(".egg-info")}

    shutil.copytree(REPO, target, ignore=ignore)
    return target


def make_venv(path: Path) -> Path:
    """A fresh venv that sees the running environment's packages through a .pth file, so pip
    finds the dependencies already satisfied instead of downloading TensorFlow (with --no-index
    an unsatisfied one fails the install rather than reaching out)."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    purelib = Path(subprocess.run([str(path / "bin" / "python"), "-c",
                                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "running-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_pip_install_gives_a_working_harvest_command(tmp_path: Path, editable: bool) -> None:
    if os.name == "nt":
        pytest.skip("the venv layout below is POSIX")
    source = copy_source(tmp_path / "src")
    venv = make_venv(tmp_path / "venv")
    target = ["-e", str(source)] if editable else [str(source)]
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index",
                              "--no-build-isolation", "--quiet", *target],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    harvest = venv / "bin" / "harvest"
    elsewhere = tmp_path / "elsewhere"  # not the checkout: the command must not need it on sys.path
    elsewhere.mkdir()
    help_run = subprocess.run([str(harvest), "--help"], capture_output=True, text=True, timeout=120, cwd=elsewhere)
    assert help_run.returncode == 0, help_run.stderr
    assert "Usage: harvest" in help_run.stdout and "doctor" in help_run.stdout and "runs" in help_run.stdout
    version = subprocess.run([str(harvest), "--version"], capture_output=True, text=True, timeout=60, cwd=elsewhere)
    assert version.stdout.strip().startswith("harvest ") and version.returncode == 0
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import workspace; print(workspace.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd=elsewhere).stdout
    assert where.startswith(str(source if editable else venv)), where
    completion = subprocess.run([str(harvest)], capture_output=True, text=True, timeout=60, cwd=elsewhere,
                                env={**os.environ, "_HARVEST_COMPLETE": "complete_bash",
                                     "COMP_WORDS": "harvest doc", "COMP_CWORD": "1"})
    assert completion.stdout.split() == ["doctor"], completion.stderr
    checks = subprocess.run([str(harvest), "doctor", str(tmp_path), "--json"], capture_output=True, text=True,
                            timeout=120, cwd=elsewhere)
    rows = {row["name"]: row for row in json.loads(checks.stdout)}
    assert rows["packages"]["status"] == "ok" and "selenium" in rows["packages"]["detail"]
    assert not [row for row in rows.values() if row["detail"] == "not installed"], rows  # markers applied
    init = subprocess.run([str(harvest), "init", str(tmp_path / "ws"), "--classes", "데이지,장미"],
                          capture_output=True, text=True, timeout=120, cwd=elsewhere)
    assert init.returncode == 0, init.stderr
    bad = subprocess.run([str(harvest), "status"], capture_output=True, text=True, timeout=60, cwd=elsewhere)
    assert bad.returncode == 2 and "`harvest status --help`" in bad.stderr
