"""Issue 19: the dataset version a curate publishes, a killed curate, removed classes, split rules,
the pixel limit, honest counts. Real JPEGs, a real SQLite workspace, real subprocesses and kill -9."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from curation.pipeline import CurateConfig, curate
from tests.conftest import REPO, make_jpeg
from workspace.dataset import INTERRUPTED, curate_state, latest_version
from workspace.importer import import_labelled
from workspace.layout import init_workspace, open_workspace


def noise_photos(dest: Path, classes: dict[str, int], size: tuple[int, int] = (96, 72), seed: int = 0) -> Path:
    """Distinct real JPEGs per class: a class colour plus random texture (no two alike)."""
    rng = np.random.default_rng(seed)
    for k, (name, count) in enumerate(classes.items()):
        (dest / name).mkdir(parents=True, exist_ok=True)
        base = np.array([(k * 97) % 256, (k * 53 + 80) % 256, (k * 151 + 160) % 256], dtype=np.int16)
        for i in range(count):
            pixels = rng.integers(-90, 90, size=(size[1], size[0], 3), dtype=np.int16) + base
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(dest / name / f"{name}-{seed}-{i}.jpg",
                                                                           quality=88)
    return dest


def workspace_with(tmp_path: Path, classes: dict[str, int], seed: int = 0, split=(0.8, 0.1, 0.1)):
    ws = init_workspace(tmp_path / "ws", list(classes), split=split).workspace
    import_labelled(ws, noise_photos(tmp_path / f"src{seed}", classes, seed=seed))
    return ws


def curated_files(ws) -> set[str]:
    return {p.relative_to(ws.curated_dir).as_posix() for p in ws.curated_dir.rglob("*.jpg")}


def metadata(ws) -> list[dict[str, str]]:
    with open(ws.curated_dir / "metadata.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


# -- 1. a dataset version, published whole -------------------------------------------------------

def test_curate_records_a_version_and_publishes_curated_whole(tmp_path: Path) -> None:
    ws = workspace_with(tmp_path, {"a": 10, "b": 10})
    first = curate(ws, CurateConfig(size=32, seed=1))
    with ws.catalog() as catalog:
        version = latest_version(catalog)
        accepted = catalog.all("SELECT curated_path FROM images WHERE status = 'accepted'")
    assert first.version and version is not None and version.version == first.version
    assert version.classes == ("a", "b")
    assert ws.curated_dir.is_symlink(), "curated/ is swapped in atomically as a symlink to a whole version"
    assert json.loads((ws.curated_dir / "dataset.json").read_text())["version"] == first.version
    assert {f"curated/{p}" for p in curated_files(ws)} == {r["curated_path"] for r in accepted}
    assert {m["file_name"] for m in metadata(ws)} == curated_files(ws)
    again = curate(ws, CurateConfig(size=32, seed=1))
    assert again.version == first.version and again.changes == {} and again.written == 0
    assert not [p for p in (ws.root / ".curated").iterdir() if p != ws.curated_dir.resolve()], \
        "the replaced version and the build folders are gone"
    resplit = curate(ws, CurateConfig(size=32, seed=7, resplit=True))
    assert resplit.version != first.version, "the split assignment is part of the version"


def test_a_curate_that_fails_midway_leaves_the_published_version(tmp_path: Path, monkeypatch) -> None:
    ws = workspace_with(tmp_path, {"a": 8, "b": 8})
    done = curate(ws, CurateConfig(size=32))
    before = curated_files(ws)
    import_labelled(ws, noise_photos(tmp_path / "more", {"a": 6, "b": 6}, seed=5))
    import curation.pipeline as pipeline

    def crash(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(pipeline, "swap_in", crash)
    with pytest.raises(OSError):
        curate(ws, CurateConfig(size=32))
    assert curated_files(ws) == before
    assert json.loads((ws.curated_dir / "dataset.json").read_text())["version"] == done.version
    assert [p.name for p in (ws.root / ".curated").iterdir()] == [ws.curated_dir.resolve().name], \
        "the failed build is removed"
    with ws.catalog() as catalog:
        assert curate_state(ws, catalog).problem == INTERRUPTED
    monkeypatch.undo()
    curate(ws, CurateConfig(size=32))
    assert len(curated_files(ws)) > len(before)
    with ws.catalog() as catalog:
        assert curate_state(ws, catalog).problem is None
    assert [p.name for p in (ws.root / ".curated").iterdir()] == [ws.curated_dir.resolve().name]


def _curate_workers(parent: psutil.Process) -> list[psutil.Process]:
    try:
        return [c for c in parent.children(recursive=True) if "multiprocessing" in " ".join(c.cmdline())]
    except psutil.Error:
        return []


@pytest.mark.slow
def test_killed_curate_is_reported_and_its_workers_die(tmp_path: Path) -> None:
    ws = workspace_with(tmp_path, {"a": 20, "b": 20})
    assert cli("curate", ws.root, "--size", "32").returncode == 0
    published = curated_files(ws)
    version = json.loads((ws.curated_dir / "dataset.json").read_text())["version"]
    big = noise_photos(tmp_path / "big", {"a": 60, "b": 60}, size=(640, 480), seed=9)
    for photo in sorted(big.rglob("*.jpg")):  # distinct files (bytes after the JPEG's end) for curate to analyse
        data = photo.read_bytes()
        for copy in range(11):
            (photo.parent / f"{photo.stem}-{copy}.jpg").write_bytes(data + bytes([copy]))
    import_labelled(ws, big)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "curate", str(ws.root), "--size", "32",
                             "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    workers: list[psutil.Process] = []
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        workers = _curate_workers(parent)
        time.sleep(0.05)
    assert len(workers) >= 2, "the curate never started its worker processes"
    time.sleep(1.0)  # the workers are busy analysing
    assert proc.poll() is None, "the curate finished before it could be killed; give it more work"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"worker processes outlived the killed curate: {[p.pid for p in alive]}"

    assert curated_files(ws) == published, "a reader still sees the last whole version"
    assert json.loads((ws.curated_dir / "dataset.json").read_text())["version"] == version
    status = cli("status", ws.root)
    assert status.returncode == 0 and INTERRUPTED in status.stderr
    assert json.loads(cli("status", ws.root, "--json").stdout)["curate_problem"] == INTERRUPTED
    train = cli("train", ws.root, "--model", "small-cnn", "--epochs", "1", "--image-size", "32")
    assert train.returncode == 1 and INTERRUPTED in train.stderr
    assert not any(ws.models_dir.iterdir()), "a refused train leaves no run folder"
    report = cli("report", ws.root)
    assert report.returncode == 0 and INTERRUPTED in report.stderr
    assert INTERRUPTED in (ws.reports_dir / "index.html").read_text(encoding="utf-8")


# -- 3. split rules ------------------------------------------------------------------------------

def test_splits_freeze_per_class_and_a_split_change_is_explained(tmp_path: Path) -> None:
    ws = workspace_with(tmp_path, {"a": 20, "b": 20}, split=(0.8, 0.2, 0.0))
    first = curate(ws, CurateConfig(size=32, split=(0.8, 0.2, 0.0)))
    assert not any(c.get("test") for c in first.splits.values())
    assert any("no test split" in n and "--split 0.8,0.1,0.1" in n for n in first.notes), first.notes
    second = curate(ws, CurateConfig(size=32, split=(0.8, 0.1, 0.1)))
    assert all(second.splits[c].get("test", 0) >= 1 for c in ("a", "b")), second.splits
    assert any("differs from the last curate's" in n and "--resplit" in n for n in second.notes), second.notes
    assert any("got a test share now: a, b" in n for n in second.notes), second.notes
    frozen = {k: dict(v) for k, v in second.splits.items()}
    import_labelled(ws, noise_photos(tmp_path / "new", {"a": 6, "c": 20}, seed=3), add_classes=True)
    third = curate(ws, CurateConfig(size=32, split=(0.8, 0.1, 0.1)))
    assert third.splits["c"].get("test", 0) >= 1, f"a class added later gets test images: {third.splits}"
    assert third.splits["a"]["test"] == frozen["a"]["test"], "test stays frozen for a class that has it"


# -- 5. a class removed from harvest.json --------------------------------------------------------

def test_removed_class_leaves_curated_and_metadata_but_keeps_its_rows(tmp_path: Path) -> None:
    ws = workspace_with(tmp_path, {"a": 10, "b": 10, "c": 10})
    curate(ws, CurateConfig(size=32))
    raw = json.loads(ws.config_path.read_text())
    del raw["classes"]["c"]
    ws.config_path.write_text(json.dumps(raw))
    summary = curate(ws, CurateConfig(size=32))
    assert summary.inactive == {"c": 10}
    assert not any(f.split("/")[1] == "c" for f in curated_files(ws))
    assert not (ws.curated_dir / "train" / "c").exists()
    assert {m["label"] for m in metadata(ws)} == {"a", "b"}
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT status, reason, path FROM images WHERE class = 'c'")
        active = catalog.one("SELECT active FROM classes WHERE name = 'c'")["active"]
    assert len(rows) == 10 and {(r["status"], r["reason"]) for r in rows} == {("rejected", "inactive_class")}
    assert all((ws.root / r["path"]).is_file() for r in rows) and active == 0
    status = cli("status", ws.root)
    assert "c (inactive)" in status.stdout
    raw["classes"]["c"] = {}
    ws.config_path.write_text(json.dumps(raw))
    back = curate(ws, CurateConfig(size=32))
    assert back.inactive == {} and sum(back.splits["c"].values()) == 10


# -- 6. limits and counts -----------------------------------------------------------------------

def test_one_pixel_limit_admits_big_photos_and_applies_at_import_and_curate(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    Image.new("L", (8001, 8001), 128).save(src / "a" / "big.jpg", quality=70)  # 64 MP: over the old limit
    make_jpeg(src / "a" / "mid.jpg", (200, 30, 30), size=(1200, 1000))
    ws = init_workspace(tmp_path / "ws", ["a", "b"]).workspace
    summary = import_labelled(ws, src)
    assert summary.by_status == {"stored": 2}, summary.by_reason
    raw = json.loads(ws.config_path.read_text())
    raw["max_pixels"] = 1_000_000
    ws.config_path.write_text(json.dumps(raw))
    other = tmp_path / "other"
    make_jpeg(other / "a" / "mid2.jpg", (20, 200, 30), size=(1200, 1000))
    assert import_labelled(ws, other).by_reason == {"decompression_bomb": 1}
    run = cli("curate", ws.root, "--size", "32", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["changes"] == {"rejected": 2}, "the same limit at curate: both stored images now refused"
    assert out["rejected"] == {"decompression_bomb": 3}, "dataset totals include the import's reject"
    raw["curate"] = {"max_pixels": 5}
    ws.config_path.write_text(json.dumps(raw))
    moved = cli("curate", ws.root)
    assert moved.returncode == 1 and "curate.max_pixels" in moved.stderr and "top-level max_pixels" in moved.stderr


def test_counts_this_run_and_stored_files(tmp_path: Path) -> None:
    ws = workspace_with(tmp_path, {"a": 8, "b": 8})
    bad = tmp_path / "bad" / "a"
    bad.mkdir(parents=True)
    (bad / "broken.jpg").write_bytes(b"not an image at all")
    import_labelled(ws, tmp_path / "bad")
    cli("curate", ws.root, "--size", "32")
    again = cli("curate", ws.root, "--size", "32")
    assert again.returncode == 0
    assert "this run: analysed 0 new images; changed: nothing; curated files written 0, removed 0" in again.stdout
    assert "dataset totals:" in again.stdout
    status = json.loads(cli("status", ws.root, "--json").stdout)
    a = next(c for c in status["classes"] if c["name"] == "a")
    assert a["stored"] == 8 and a["rejected"].get("not_an_image") == 1, "a file rejected at import is not stored"


def test_quiet_after_the_command_silences_curate(tmp_path: Path) -> None:
    ws = workspace_with(tmp_path, {"a": 6, "b": 6})
    quiet = cli("curate", ws.root, "--size", "32", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    loud = cli("curate", ws.root, "--size", "32")
    assert "dataset version" in loud.stdout


def test_export_to_a_folder_is_one_line_and_leaves_no_tmp(tmp_path: Path) -> None:
    ws = workspace_with(tmp_path, {"a": 2, "b": 2})
    target = tmp_path / "existing.csv"
    target.mkdir()
    run = cli("export", ws.root, "--out", target)
    assert run.returncode == 1 and "is a folder" in run.stderr and "unexpected" not in run.stderr
    assert not list(tmp_path.glob("*.tmp"))


def test_report_shows_rejected_images_uncropped(tmp_path: Path) -> None:
    ws = workspace_with(tmp_path, {"a": 4, "b": 4})
    make_jpeg(tmp_path / "odd" / "a" / "strip.jpg", (10, 200, 10), size=(700, 60))
    import_labelled(ws, tmp_path / "odd")
    curate(ws, CurateConfig(size=32))
    from curation.report import build_report

    page = build_report(open_workspace(ws.root)).read_text(encoding="utf-8")
    rejected = page[page.index("id=rejected"):]
    assert 'class="bad whole"' in rejected[:rejected.index("odd_aspect") + 2000]
    assert ".whole img{object-fit:contain" in page
