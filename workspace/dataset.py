"""The dataset version: what the last finished curate published, and whether a curate is unfinished.

A curate records a stage_runs row when it starts and sets its `ended_at` when `curated/` holds
the new version; a row left without `ended_at` is a curate that was killed (or is still running,
which its lock tells). Every finished curate adds a `dataset_versions` row whose `version` is a
fingerprint of the classes, the split assignment and the curated files' content, so a training
run can say which data it saw and `evaluate` can tell when it is scoring a run on other data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from workspace.catalog import Catalog
from workspace.errors import WorkspaceError
from workspace.layout import Workspace
from workspace.lock import lock_held

INTERRUPTED = "curate was interrupted: run curate again"


@dataclass(frozen=True)
class DatasetVersion:
    version: str
    classes: tuple[str, ...]
    counts: dict[str, dict[str, int]]
    created_at: str


@dataclass(frozen=True)
class CurateState:
    """`unfinished`: the last curate has no end; `running`: its lock is held right now."""

    version: DatasetVersion | None
    unfinished: bool
    running: bool

    @property
    def problem(self) -> str | None:
        """One line for status, train and report, or None when the dataset is whole."""
        if not self.unfinished:
            return None
        if self.running:
            return "a curate is running: curated/ and the splits are being rebuilt; wait for it to finish"
        return INTERRUPTED


def fingerprint(classes: Iterable[str], resize_spec: dict, images: Iterable[tuple[str, str, str, str]]) -> str:
    """16 hex digits over the classes, the resize settings and each (id, sha256, class, split)
    sorted by id: the curated files are a function of their originals and the resize settings."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"classes": list(classes), "resize": resize_spec}, sort_keys=True).encode())
    for row in sorted(images):
        digest.update(("\0".join(row) + "\n").encode())
    return digest.hexdigest()[:16]


def latest_version(catalog: Catalog) -> DatasetVersion | None:
    row = catalog.one("SELECT version, classes, counts, created_at FROM dataset_versions ORDER BY id DESC LIMIT 1")
    if row is None:
        return None
    return DatasetVersion(row["version"], tuple(json.loads(row["classes"])), json.loads(row["counts"]),
                          row["created_at"])


def curate_state(ws: Workspace, catalog: Catalog) -> CurateState:
    last = catalog.one("SELECT ended_at FROM stage_runs WHERE stage = 'curate' ORDER BY id DESC LIMIT 1")
    unfinished = last is not None and last["ended_at"] is None
    return CurateState(latest_version(catalog), unfinished, unfinished and lock_held(ws, "curate"))


def require_finished_curate(ws: Workspace, catalog: Catalog) -> CurateState:
    """The state, or a WorkspaceError when the last curate did not finish."""
    state = curate_state(ws, catalog)
    if state.problem:
        raise WorkspaceError(state.problem)
    return state
