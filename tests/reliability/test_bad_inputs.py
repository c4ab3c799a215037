"""Every kind of bad or unusual file through import, download and curate: a recorded reason or a
correct normalised image; never a crash, never a partial file, rows consistent with the disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from curation.pipeline import CurateConfig, curate
from tests.support.badinputs import corpus, expected_upright_size
from tests.support.fault_server import FaultServer
from workspace.layout import open_workspace

KNOWN_REASONS = {"empty_file", "not_an_image", "unsupported_format", "decode_error", "truncated",
                 "decompression_bomb", "too_small", "odd_aspect", "low_information", "unreadable"}


def check_consistent(ws_path: Path) -> None:
    with sqlite3.connect(ws_path / "catalog.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        paths = {r[0] for r in conn.execute("SELECT path FROM images WHERE path IS NOT NULL")}
        curated = {r[0] for r in conn.execute("SELECT curated_path FROM images WHERE curated_path IS NOT NULL")}
    on_disk = {p.relative_to(ws_path).as_posix() for p in (ws_path / "raw").rglob("*") if p.is_file()}
    assert on_disk == paths, "every stored file has a row and every row's file exists"
    curated_disk = {p.relative_to(ws_path).as_posix() for p in (ws_path / "curated").rglob("*")
                    if p.is_file() and p.suffix == ".jpg"}
    assert curated_disk == curated
    assert [p for p in (ws_path / "tmp").iterdir() if p.name != "resized"] == []  # resized/: cached for curate
    assert list((ws_path / "tmp").rglob("*.tmp")) == [], "no partial cached output"
    assert list((ws_path / "curated").rglob("*.tmp")) == [], "no partial curated file"


def outcomes(ws_path: Path, key: str) -> dict[str, dict]:
    with sqlite3.connect(ws_path / "catalog.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM images")]
    return {Path(r[key]).name if key == "source" and "/" in r[key] else r[key]: r for r in rows}


def assert_expectations(ws_path: Path, rows: dict[str, dict], expectations: dict[str, str]) -> None:
    for name, expect in expectations.items():
        row = rows[name]
        if row["status"] == "rejected":
            assert expect in ("reject", "either"), (name, row["reason"])
            assert row["reason"] in KNOWN_REASONS, (name, row["reason"])
        else:
            assert expect in ("ok", "either"), (name, row["status"], row["reason"])
            assert row["status"] in ("accepted", "duplicate"), (name, row["status"])
            if row["status"] == "accepted":
                with Image.open(ws_path / row["curated_path"]) as image:
                    assert image.mode == "RGB" and image.size == (64, 64)
        upright = expected_upright_size(name)
        if upright:
            assert (row["width"], row["height"]) in ((120, 80), (80, 120))


@pytest.mark.slow
def test_corpus_through_import_and_curate(run_cli, tmp_path: Path) -> None:
    src = tmp_path / "src" / "things"
    expectations = corpus(src)
    assert len(expectations) >= 30
    ws = tmp_path / "ws"
    assert run_cli("init", ws, "--classes", "things").returncode == 0
    imported = run_cli("import", ws, tmp_path / "src")
    assert imported.returncode == 0 and "Traceback" not in imported.stderr, imported.stderr
    curated = run_cli("curate", ws, "--size", "64")
    assert curated.returncode == 0 and "Traceback" not in curated.stderr, curated.stderr
    rows = outcomes(ws, "source")
    assert_expectations(ws, rows, expectations)
    check_consistent(ws)
    # EXIF orientation really applied: the upright 6 is portrait, the plain 1 is landscape
    ws_obj = open_workspace(ws)
    from curation.validate import ValidationLimits, open_normalized

    for name in ("exif_orientation_1.jpg", "exif_orientation_6.jpg"):
        image = open_normalized(ws_obj.root / rows[name]["path"], ValidationLimits(min_side=8))
        assert image.size == expected_upright_size(name), name


@pytest.mark.slow
def test_corpus_through_the_downloader(run_cli, tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    expectations = corpus(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    with FaultServer(files=files) as server:
        url_file = tmp_path / "urls.txt"
        url_file.write_text("".join(server.url(f"/file/{name}") + "\n" for name in files))
        ws = tmp_path / "ws"
        assert run_cli("init", ws, "--classes", "things").returncode == 0
        crawled = run_cli("crawl", ws, "--urls", url_file, "--class", "things", "--allow-private")
        assert crawled.returncode == 0 and "Traceback" not in crawled.stderr, crawled.stderr
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        candidates = {Path(u).name: (s, r) for u, s, r in conn.execute("SELECT url, status, reason FROM candidates")}
    assert set(candidates) == set(files)
    for name, (status, reason) in candidates.items():
        assert status in ("stored", "duplicate", "failed"), (name, status)
        if status == "failed":
            assert reason in KNOWN_REASONS, (name, reason)
        if expectations[name] == "ok":
            assert status in ("stored", "duplicate"), (name, status, reason)
    assert run_cli("curate", ws, "--size", "64").returncode == 0
    check_consistent(ws)
