"""Which run `evaluate` and `predict` use on a workspace, and why.

"Best" means the highest validation accuracy among the runs trained on the *current* dataset
version (the one `curated/` holds), so a run trained on a broken or older dataset never wins
because its numbers look good. A run whose folder is gone is skipped with a note. With no run on
the current version, the best run with the same classes is used and the choice says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from training.errors import TrainingError
from workspace.dataset import latest_version
from workspace.layout import Workspace


@dataclass(frozen=True)
class RunChoice:
    run_id: str
    run_dir: Path
    reason: str                        # one line: why this run
    dataset_version: str | None        # the version it trained on (None: unknown)
    current_version: str | None        # the workspace's version now
    notes: tuple[str, ...] = ()        # skipped runs and the like

    @property
    def stale(self) -> bool:
        return self.current_version is not None and self.dataset_version != self.current_version


def choose_run(ws: Workspace, run_id: str | None = None) -> RunChoice:
    """The run named, or the best run on the current dataset version (see the module)."""
    with ws.catalog() as catalog:
        current = latest_version(catalog)
        rows = [dict(r) for r in catalog.all("SELECT id, path, val_accuracy, dataset_version, created_at FROM runs"
                                             " ORDER BY created_at")]
    version = current.version if current else None
    if run_id is not None:
        return _named(ws, run_id, rows, version)
    notes, usable = [], []
    for row in rows:
        if (ws.root / row["path"] / "model.keras").is_file():
            usable.append(row)
        else:
            notes.append(f"run {row['id']} skipped: {row['path']}/model.keras is missing")
    if not usable:
        raise TrainingError(f"{ws.root} has no trained model yet: run `python cli.py train {ws.root}`")
    on_current = [r for r in usable if r["dataset_version"] == version]
    if on_current:
        best = _best(on_current)
        where = f"dataset version {version}" if version else "this workspace's (unversioned) data"
        reason = (f"best val accuracy {_accuracy(best)} of {len(on_current)} run(s) trained on the current {where}")
        return RunChoice(best["id"], ws.root / best["path"], reason, best["dataset_version"], version, tuple(notes))
    classes = current.classes if current else tuple(ws.config().class_names)
    same = [r for r in usable if _classes_of(ws.root / r["path"]) == list(classes)]
    if not same:
        raise TrainingError(f"no trained run has the current classes ({', '.join(classes)}): "
                            f"run `python cli.py train {ws.root}`")
    best = _best(same)
    reason = (f"no run was trained on the current dataset version {version}; best val accuracy "
              f"{_accuracy(best)} among runs with the same classes (it trained on version "
              f"{best['dataset_version'] or 'unknown'}): train again to use the current data")
    return RunChoice(best["id"], ws.root / best["path"], reason, best["dataset_version"], version, tuple(notes))


def _named(ws: Workspace, run_id: str, rows: list[dict], version: str | None) -> RunChoice:
    run_dir = ws.models_dir / run_id
    if not (run_dir / "model.keras").is_file():
        names = sorted({r["id"] for r in rows if (ws.root / r["path"] / "model.keras").is_file()}
                       | {path.parent.name for path in ws.models_dir.glob("*/model.keras")})
        raise TrainingError(f"no run named {run_id!r} with a model.keras in {ws.models_dir}; runs: "
                            f"{', '.join(names) or 'none yet'}")
    row = next((r for r in rows if r["id"] == run_id), None)
    trained_on = row["dataset_version"] if row else _metrics_version(run_dir)
    return RunChoice(run_id, run_dir, "asked for with --run", trained_on, version)


def _best(rows: list[dict]) -> dict:
    return max(rows, key=lambda r: (r["val_accuracy"] if r["val_accuracy"] is not None else -1.0, r["created_at"]))


def _accuracy(row: dict) -> str:
    return f"{row['val_accuracy']:.3f}" if row["val_accuracy"] is not None else "unknown"


def _classes_of(run_dir: Path) -> list[str] | None:
    try:
        return list(json.loads((run_dir / "classes.json").read_text(encoding="utf-8"))["class_names"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _metrics_version(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")).get("dataset_version")
    except (OSError, ValueError, AttributeError):
        return None
