"""SIGKILL at random moments and concurrent commands on one workspace: nothing lost or doubled."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tests.crawler.test_crawl import images
from tests.reliability.test_bad_inputs import check_consistent
from tests.support.fault_server import FaultServer
from tests.support.processes import child_group, kill_group, wait_for
from workspace.layout import init_workspace


def cli(*args: object) -> list[str]:
    return [sys.executable, str(REPO / "cli.py"), *map(str, args)]


def noise_photos(folder: Path, count: int, size: tuple[int, int] = (480, 360)) -> None:
    """Real JPEGs heavy enough to decode and resize that curate takes seconds over them."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        (folder / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "ab"[i % 2] / f"{i}.jpg", quality=90)


def curated_files(ws: Path) -> list[Path]:
    return [p for split in ("train", "val", "test") for p in (ws / "curated" / split).glob("*/*.jpg")]


def files_at(ws: Path, side: int) -> list[Path]:
    """Published curated files at `side` px."""
    from PIL import Image

    out = []
    for path in curated_files(ws):
        try:
            with Image.open(path) as image:
                if image.size == (side, side):
                    out.append(path)
        except OSError:
            pass
    return out


def building_files(ws: Path) -> list[Path]:
    """Curated files of a version being built aside (curation.publish), not yet published."""
    return list((ws / ".curated").glob("build-*/*/*/*.jpg"))


def test_sigkill_curate_while_it_writes_curated_files_then_resume(tmp_path: Path) -> None:
    """Analysis leaves each output ready to move, so a first curate's write pass takes
    milliseconds; the kill lands in a rebuild at a new size, which decodes every original."""
    total = 80
    noise_photos(tmp_path / "src", total)
    ws = tmp_path / "ws"
    init_workspace(ws, ["a", "b"])
    assert subprocess.run(cli("import", ws, tmp_path / "src"), capture_output=True).returncode == 0
    assert subprocess.run(cli("curate", ws, "--size", "40", "--workers", "1"), capture_output=True).returncode == 0
    with child_group(cli("curate", ws, "--size", "48", "--workers", "1")) as process:
        wait_for(lambda: len(building_files(ws)) >= 2, process, "curated file written")
        assert process.poll() is None
        kill_group(process)
    assert 2 <= len(building_files(ws)) < total  # killed with some curated files written and others not
    assert len(files_at(ws, 40)) == total, "readers of curated/ keep the published version, never the half-built one"
    resumed = subprocess.run(cli("curate", ws, "--size", "48"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        assert conn.execute("SELECT status, COUNT(*) FROM images GROUP BY status").fetchall() == [("accepted", total)]
        splits = dict(conn.execute("SELECT split, COUNT(*) FROM images GROUP BY split").fetchall())
    assert sum(splits.values()) == total and set(splits) == {"train", "val", "test"}
    check_consistent(ws)  # every accepted image has its curated file, no stray or partial file
    assert len(files_at(ws, 48)) == total and building_files(ws) == []
    assert len((ws / "curated" / "metadata.csv").read_text().splitlines()) == total + 1


@pytest.mark.slow
def test_two_crawls_and_status_export_curate_at_once(tmp_path: Path) -> None:
    with FaultServer(images=images(40)) as server:
        ws = tmp_path / "ws"
        init_workspace(ws, ["a", "b"])
        lists = []
        for name, part in (("a", range(0, 20)), ("b", range(20, 40))):
            path = tmp_path / f"{name}.txt"
            path.write_text("".join(server.url(f"/slow/{i}.jpg?ms=60") + "\n" for i in part))
            lists.append((name, path))
        crawls = [subprocess.Popen(cli("crawl", ws, "--urls", path, "--class", name, "--allow-private",
                                       "--workers", "2"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                  for name, path in lists]
        readers = 0
        while any(p.poll() is None for p in crawls):
            for args in (("status", ws), ("export", ws, "--out", tmp_path / "m.csv"), ("curate", ws, "--size", "32")):
                result = subprocess.run(cli(*args), capture_output=True, text=True, timeout=120)
                assert result.returncode == 0, (args, result.stderr)
                readers += 1
        for p in crawls:
            assert p.wait() == 0, p.stderr.read()
    assert readers >= 3
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 40
        assert conn.execute("SELECT COUNT(DISTINCT source) FROM images").fetchone()[0] == 40
        assert conn.execute("SELECT COUNT(*) FROM candidates WHERE status != 'stored'").fetchone()[0] == 0
    assert all(server.hits[f"/slow/{i}.jpg"] == 1 for i in range(40))
    final = subprocess.run(cli("curate", ws, "--size", "32"), capture_output=True, text=True, timeout=120)
    assert final.returncode == 0
    check_consistent(ws)


def round_started(ws: Path, k: int) -> bool:
    """Round k has a row (False while the catalog or its tables do not exist yet)."""
    if not (ws / "catalog.sqlite").exists():
        return False
    try:
        with sqlite3.connect(ws / "catalog.sqlite", timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM rounds WHERE round = ?", (k,)).fetchone()[0] > 0
    except sqlite3.OperationalError:  # the migrations have not created the table yet
        return False


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.training
def test_demo_killed_mid_round_resumes_and_ends_like_a_clean_run(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo end to end (`make demo`'s path, small size), SIGKILLed while round 1 is under way:
    the resumed run leaves no browser behind, labels nothing twice, and prints and stores what a
    clean run does. (One demo run serves both checks: the suite cannot afford two.)"""
    from tests.conftest import chromium_available
    from tests.support.orphans import MARKER_ENV, kill_all, wait_for_no_browsers

    if not chromium_available():
        pytest.skip("needs chromium and chromedriver")
    ws = tmp_path / "demo"
    argv = cli("demo", "--workspace", ws, "--size", "small")
    marker = f"{os.environ[MARKER_ENV]}-selftrain-kill"
    monkeypatch.setenv(MARKER_ENV, marker)
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not round_started(ws, 1):  # kill while round 1 is under way
        assert process.poll() is None, "the demo ended before round 1 started"
        assert time.monotonic() < deadline, "round 1 did not start within 300 s"
        time.sleep(0.2)
    time.sleep(random.Random(7).uniform(0.5, 4.0))
    assert process.poll() is None, "the demo finished before it could be killed mid-round"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    orphans = wait_for_no_browsers(marker, timeout=10)
    kill_all(orphans)
    assert orphans == [], f"the killed round left browser processes running: {orphans}"
    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    assert resumed.returncode == 0, resumed.stderr
    check_demo_output(resumed.stdout)
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        assert conn.execute("SELECT round, state FROM rounds ORDER BY round").fetchall() == [(0, "done"), (1, "done")]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        labelled = conn.execute("SELECT COUNT(*) FROM images WHERE round IS NOT NULL"
                                " AND label_source IN ('pseudo', 'query')").fetchone()[0]
        assert labelled == conn.execute("SELECT SUM(accepted) FROM rounds").fetchone()[0]  # none labelled twice
    check_demo_workspace(ws)
    check_consistent(ws)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)  # resumes: nothing to redo
    assert again.returncode == 0 and "round 0:" not in again.stdout


def check_demo_output(stdout: str) -> None:
    """What the demo prints at its end, however it got there."""
    assert "self-training rounds" in stdout and "report:" in stdout
    assert "raw crawl, same budget" in stdout and "gain of self-training over the raw crawl" in stdout
    assert "McNemar p = " in stdout  # the gain is judged on paired test images, not printed bare
    assert "test: manual labels, 12" in stdout  # the clean bundled test set, not query labels


def check_demo_workspace(ws: Path) -> None:
    """The demo's two rounds in the catalog, the run folders and the report."""
    report = ws / "reports" / "index.html"
    assert report.is_file() and "Self-training rounds" in report.read_text()
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM images WHERE label_source='pseudo' AND split != 'train'"
                            ).fetchone()[0] == 0
        grown = conn.execute("SELECT COUNT(*) FROM images WHERE round = 1 AND label_source IN ('pseudo', 'query')"
                             " AND split = 'train'").fetchone()[0]
        assert grown > 0  # round 1 grew train (by pseudo-labels, or by query labels when its teacher is too weak)
        taken = conn.execute("SELECT COUNT(*) FROM images WHERE round = 1 AND label_source IN ('pseudo', 'query')"
                             ).fetchone()[0]
        assert taken == conn.execute("SELECT accepted FROM rounds WHERE round = 1").fetchone()[0]
        assert {r[0] for r in conn.execute("SELECT DISTINCT label_source FROM images WHERE split = 'test'")} == {"manual"}
        engines = {r[0] for r in conn.execute("SELECT DISTINCT engine FROM images WHERE engine IS NOT NULL")}
        assert engines == {"bing"}
    with open(ws / "rounds" / "1" / "decisions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["true_class"] for r in rows)  # the replica knows every candidate's truth
    test0 = json.loads((ws / "models" / "round-0" / "metrics.json").read_text())["test"]["images"]
    test1 = json.loads((ws / "models" / "round-1" / "metrics.json").read_text())["test"]["images"]
    assert test0 == test1  # the same frozen test split judged both rounds
