"""The catalog: migrations from an empty file, WAL, and several processes writing at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from workspace.catalog import Catalog, utc_now
from workspace.errors import CatalogError
from workspace.migrations import MIGRATIONS


def test_migrations_apply_to_an_empty_file_and_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    path.touch()  # an empty file is a valid, empty SQLite database
    with Catalog(path) as catalog:
        applied = [r["version"] for r in catalog.all("SELECT version FROM schema_migrations ORDER BY version")]
        assert applied == [m.version for m in sorted(MIGRATIONS, key=lambda m: m.version)]
        assert catalog.schema_version() == max(m.version for m in MIGRATIONS)
        tables = {r["name"] for r in catalog.all("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"classes", "queries", "candidates", "images", "jobs", "rounds", "runs"} <= tables
        assert catalog.scalar("PRAGMA journal_mode") == "wal"
        assert catalog.integrity_ok()


def test_reopening_does_not_reapply_migrations_or_lose_rows(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    with Catalog(path) as catalog:
        catalog.execute("INSERT INTO classes (name, position) VALUES ('daisy', 0)")
    with Catalog(path) as catalog:
        assert catalog.scalar("SELECT COUNT(*) FROM schema_migrations") == len(MIGRATIONS)
        assert catalog.scalar("SELECT name FROM classes") == "daisy"


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CatalogError, match="cannot open catalog"):
        Catalog(path)


def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as catalog:
        with pytest.raises(RuntimeError):
            with catalog.transaction() as conn:
                conn.execute("INSERT INTO classes (name, position) VALUES ('a', 0)")
                raise RuntimeError("boom")
        assert catalog.scalar("SELECT COUNT(*) FROM classes") == 0


def _writer(path: str, worker: int, count: int) -> None:
    with Catalog(Path(path)) as catalog:
        for i in range(count):
            catalog.insert(
                "INSERT INTO candidates (url, class, engine, found_at) VALUES (?, ?, 'urls', ?)",
                (f"http://example.test/{worker}/{i}.jpg", "daisy", utc_now()),
            )


def test_two_processes_writing_at_once_lose_no_row(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(str(path), w, 300)) for w in range(3)]
    for p in workers:
        p.start()
    # a reader polls while the writers run, as `status` would
    with Catalog(path) as reader:
        while any(p.is_alive() for p in workers):
            reader.scalar("SELECT COUNT(*) FROM candidates")
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == 900
        assert conn.execute("SELECT COUNT(DISTINCT url) FROM candidates").fetchone()[0] == 900
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
