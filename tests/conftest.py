"""Shared fixtures: workspaces in tmp folders, tiny real JPEGs, the shared real photos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_FLOWERS = REPO.parent / "shared" / "data" / "flowers"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session", autouse=True)
def no_orphaned_browsers() -> Iterator[str]:
    """Marks every process this run starts (environment), and fails the run if any browser or
    driver it started is still alive at the end; those are killed so the machine stays clean."""
    from tests.support.orphans import MARKER_ENV, kill_all, wait_for_no_browsers

    marker = f"harvest-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    os.environ[MARKER_ENV] = marker
    yield marker
    alive = wait_for_no_browsers(marker, timeout=15)
    kill_all(alive)
    if alive:
        pytest.fail(f"{len(alive)} browser process(es) started by the tests outlived them: "
                    + "; ".join(f"{pid} {cmd}" for pid, cmd in alive), pytrace=False)


@pytest.fixture
def flowers_dir() -> Path:
    """The 1,500 real photos beside the repo; skips (with the reason) where they are absent."""
    if not (SHARED_FLOWERS / "daisy").is_dir():
        pytest.skip(f"real photos not found at {SHARED_FLOWERS} (they live in ../shared beside the repo)")
    return SHARED_FLOWERS


def make_jpeg(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (48, 40),
              pattern: int = 0, quality: int = 90) -> Path:
    """A small real JPEG with a distinct pattern (so perceptual hashes differ between seeds)."""
    image = Image.new("RGB", size, color)
    pixels = image.load()
    for x in range(size[0]):
        for y in range(size[1]):
            if (x * (pattern + 3) // size[0] + y * (pattern % 5 + 2) // size[1]) % 2:
                r, g, b = color
                pixels[x, y] = (255 - r, (g + 90 * (pattern + 1)) % 256, (b + 40 * pattern) % 256)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=quality)
    return path


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run `python cli.py ...` in a subprocess, as a user would; returns CompletedProcess."""

    def run(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})}
        return subprocess.run(
            [sys.executable, str(REPO / "cli.py"), *map(str, args)], capture_output=True, text=True,
            timeout=timeout, env=full_env, cwd=cwd or tmp_path,
        )

    return run


def chromium_available() -> bool:
    return bool(shutil.which("chromium") or shutil.which("chromium-browser")
                or shutil.which("google-chrome")) and bool(shutil.which("chromedriver"))


@pytest.fixture(scope="session", autouse=True)
def harvest_cache(tmp_path_factory: pytest.TempPathFactory):
    """Converted pretrained weights go to a folder of this test run, not the user's cache
    (subprocesses inherit it); a HARVEST_CACHE set by the caller is kept."""
    if os.environ.get("HARVEST_CACHE"):
        yield Path(os.environ["HARVEST_CACHE"])
        return
    path = tmp_path_factory.mktemp("harvest-cache")
    os.environ["HARVEST_CACHE"] = str(path)
    try:
        yield path
    finally:
        os.environ.pop("HARVEST_CACHE", None)
