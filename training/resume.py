"""What a run folder says about resuming it: finished or not, how many epochs its history and its
Keras backup hold, and a history.csv cut back to the epochs that will not be redone.

`train --run-id NAME` run again on the same name: a finished run asked for no more epochs than it
was asked for before is left alone; asked for more it continues (the pixel path from its
`BackupAndRestore` backup, weights, optimizer and epoch; the frozen-backbone head from the saved
model's head); an unfinished run continues from its backup or, without one, starts again.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from training.errors import TrainingError

HISTORY = "history.csv"
METRICS = "metrics.json"
STAGES = "stages.json"
# what must match for a run to be continued rather than trained under a new name
SAME_RUN_FIELDS = ("model", "weights", "image_size", "grayscale", "fine_tune")


def finished_metrics(run_dir: Path) -> dict | None:
    """metrics.json of a run that completed (it is written last), else None."""
    path = run_dir / METRICS
    if not (run_dir / "model.keras").is_file() or not path.is_file():
        return None
    return json.loads(path.read_text())


def requested_epochs(metrics: dict) -> int:
    """The epochs a finished run was asked for (older runs recorded only the epochs run)."""
    return int(metrics.get("epochs_requested", metrics.get("epochs_run", 0)))


def check_same_run(run_dir: Path, config: dict) -> None:
    """A run name is reused only for the same model; anything else would mix two trainings."""
    path = run_dir / "config.json"
    if not path.is_file():
        return
    before = json.loads(path.read_text())
    changed = [f"--{name.replace('_', '-')} {before.get(name)!r} -> {config.get(name)!r}"
               for name in SAME_RUN_FIELDS if name in before and before.get(name) != config.get(name)]
    if changed:
        raise TrainingError(f"run {run_dir.name!r} was trained with other settings ({', '.join(changed)}); "
                            f"continue it with the same ones or pick another --run-id")


def finished_stage(run_dir: Path, stage: str) -> int | None:
    """The epochs a completed `model.fit` stage ended at (early stopping may end it before its
    --epochs), so a run killed in the next stage does not take this one further."""
    path = run_dir / STAGES
    return json.loads(path.read_text()).get(stage) if path.is_file() else None


def mark_stage_finished(run_dir: Path, stage: str, epochs: int) -> None:
    path = run_dir / STAGES
    stages = json.loads(path.read_text()) if path.is_file() else {}
    stages[stage] = epochs
    path.write_text(json.dumps(stages) + "\n")


def backup_epochs(backup_dir: Path) -> int:
    """Epochs completed according to a `keras.callbacks.BackupAndRestore` folder (0 if none)."""
    path = backup_dir / "training_metadata.json"
    if not path.is_file():
        return 0
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (ValueError, KeyError, TypeError):
        return 0


def history_epochs(run_dir: Path) -> int:
    """How many epochs history.csv records."""
    return len(_rows(run_dir / HISTORY)[1])


def keep_history(run_dir: Path, epochs: int) -> None:
    """Cut history.csv back to its epochs 0..epochs-1, so epochs that will be redone (after a kill
    between the history row and the backup) are not recorded twice."""
    path = run_dir / HISTORY
    header, rows = _rows(path)
    kept = [row for row in rows if int(float(row["epoch"])) < epochs]
    if len(kept) == len(rows):
        return
    if not kept:
        path.unlink()
        return
    temp = path.with_suffix(".csv.tmp")
    with open(temp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(kept)
    temp.replace(path)


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        return [], []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row.get("epoch") not in (None, "")]
        return list(reader.fieldnames or []), rows
