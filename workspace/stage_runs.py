"""The `stage_runs` record: one row per execution of a stage (crawl, curate, clean-labels).

A row gets `ended_at` only when its stage finished: a killed stage stays visible as unfinished
(`workspace.dataset.curate_state` reads that for curate). `stage_run()` is the one writer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from workspace.catalog import Catalog, utc_now
from workspace.errors import CatalogError


@dataclass
class StageRun:
    """A started run: `id` for rows that point at it, `params` to amend what it ran with,
    `finish` to end it (inside the caller's transaction when given one)."""

    catalog: Catalog
    id: int
    finished: bool = False

    def set_params(self, params: dict) -> None:
        self.catalog.execute("UPDATE stage_runs SET params = ? WHERE id = ?", (json.dumps(params), self.id))

    def finish(self, counts: dict, conn: sqlite3.Connection | None = None) -> None:
        sql, args = "UPDATE stage_runs SET ended_at = ?, counts = ? WHERE id = ?", (utc_now(), json.dumps(counts), self.id)
        if conn is None:
            self.catalog.execute(sql, args)
        else:
            conn.execute(sql, args)
        self.finished = True


@contextmanager
def stage_run(catalog: Catalog, stage: str, params: dict) -> Iterator[StageRun]:
    """Record a run of `stage` for the duration of the block. The block calls `run.finish(counts)`
    when the stage's work is done; a block left by an exception leaves the run unfinished, and
    one left normally without `finish` is a bug in the stage."""
    run = StageRun(catalog, catalog.insert("INSERT INTO stage_runs (stage, params, started_at) VALUES (?, ?, ?)",
                                           (stage, json.dumps(params), utc_now())))
    yield run
    if not run.finished:
        raise CatalogError(f"the {stage} run {run.id} ended without recording that it finished")


def record_finished_run(conn: sqlite3.Connection, stage: str, params: dict, counts: dict) -> None:
    """A stage whose whole work is one transaction: its run is recorded, started and ended, in it."""
    now = utc_now()
    conn.execute("INSERT INTO stage_runs (stage, params, counts, started_at, ended_at) VALUES (?, ?, ?, ?, ?)",
                 (stage, json.dumps(params), json.dumps(counts), now, now))


def last_params(catalog: Catalog, stage: str, finished: bool = False) -> dict | None:
    """The params of the stage's latest run (the latest finished one with `finished`)."""
    done = " AND ended_at IS NOT NULL" if finished else ""
    row = catalog.one(f"SELECT params FROM stage_runs WHERE stage = ?{done} ORDER BY id DESC LIMIT 1", (stage,))
    return json.loads(row["params"]) if row and row["params"] else None


def has_finished(catalog: Catalog, stage: str) -> bool:
    return catalog.one("SELECT 1 FROM stage_runs WHERE stage = ? AND ended_at IS NOT NULL", (stage,)) is not None
