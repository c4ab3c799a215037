"""A view across training runs: one row per `models/<run>/` folder, read from the files it holds.

Read defensively: training may add keys, a run may be unfinished (no metrics.json yet), and a
damaged metrics.json marks only that run as unreadable so the others still show.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workspace.errors import WorkspaceError
from workspace.layout import Workspace

log = logging.getLogger(__name__)

RUN_FILES = ("config.json", "metrics.json", "history.csv")


@dataclass(frozen=True)
class RunRow:
    """What one run folder says about itself; None where a file or key is missing."""

    run: str
    path: str
    state: str  # finished | unfinished | unreadable
    model: str | None = None
    weights: str | None = None
    image_size: int | None = None
    batch_size: int | None = None
    epochs_run: int | None = None
    seconds: float | None = None
    images_per_second: float | None = None
    train_images: int | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    dataset_version: str | None = None   # the curated version it trained on (issue 19)
    problem: str | None = None
    history: dict[str, list[float]] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("history")
        return data


def list_runs(ws: Workspace) -> list[RunRow]:
    """Every run folder under models/, oldest first; a WorkspaceError when there are none."""
    folders = [p for p in ws.models_dir.iterdir() if p.is_dir() and any((p / n).exists() for n in RUN_FILES)] \
        if ws.models_dir.is_dir() else []
    if not folders:
        raise WorkspaceError(f"no training runs in {ws.models_dir} yet (run `train {ws.root}` first)")
    folders.sort(key=lambda p: (_started(p), p.name))
    return [read_run(folder) for folder in folders]


def select_runs(rows: list[RunRow], names: list[str] | None) -> list[RunRow]:
    """The runs named (in the order given), or all of them; an unknown name is an error."""
    if not names:
        return rows
    by_name = {row.run: row for row in rows}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise WorkspaceError(f"no run named {unknown[0]!r}; runs: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def read_run(folder: Path) -> RunRow:
    """One row from config.json, metrics.json and history.csv; a damaged file makes it unreadable."""
    base = {"run": folder.name, "path": str(folder)}
    try:
        config = _read_json(folder / "config.json")
        metrics = _read_json(folder / "metrics.json")
        history = read_history(folder / "history.csv")
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
        log.debug("run %s is unreadable", folder, exc_info=True)
        return RunRow(**base, state="unreadable", problem=_first_line(exc))
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
    return RunRow(
        **base,
        state="finished" if metrics else "unfinished",
        model=_text(config.get("model")),
        weights=_text(config.get("weights")),
        image_size=_number(config.get("image_size"), int),
        batch_size=_number(config.get("batch_size"), int),
        epochs_run=_number(metrics.get("epochs_run"), int),
        seconds=_number(metrics.get("seconds"), float),
        images_per_second=_number(_first(metrics, "images_per_second", "train_images_per_second"), float),
        train_images=_number(metrics.get("train_images"), int),
        val_accuracy=_number(metrics.get("val_accuracy"), float),
        test_accuracy=_number(test.get("accuracy") if test else metrics.get("test_accuracy"), float),
        dataset_version=_text(metrics.get("dataset_version")),
        history=history,
    )


def read_history(path: Path) -> dict[str, list[float]]:
    """Keras CSVLogger columns as lists (epoch dropped); blank or odd cells are skipped."""
    history: dict[str, list[float]] = {}
    if not path.exists():
        return history
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                number = _number(value, float)
                if key and key != "epoch" and number is not None:
                    history.setdefault(key, []).append(number)
    return history


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} holds {type(data).__name__}, not an object")
    return data


def _first(data: dict[str, Any], *keys: str) -> Any:
    """The value of the first key present (training may rename a key; old runs keep the old one)."""
    return next((data[key] for key in keys if data.get(key) is not None), None)


def _started(folder: Path) -> float:
    for name in RUN_FILES:
        if (folder / name).exists():
            return (folder / name).stat().st_mtime
    return folder.stat().st_mtime


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return (int(number) if kind is int else number) if math.isfinite(number) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def plot_runs(rows: list[RunRow], path: Path) -> Path:
    """One figure: validation accuracy and loss per epoch for each run (train curves dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plotted = [row for row in rows if row.history]
    if not plotted:
        raise WorkspaceError("none of the selected runs has a history.csv to plot")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        for number, row in enumerate(plotted):
            color = f"C{number % 10}"
            ax.plot(row.history.get(f"val_{metric}", []), color=color, label=f"{row.run} (val)")
            ax.plot(row.history.get(metric, []), color=color, linestyle="--", alpha=0.6)
        ax.set_xlabel("epoch")
        ax.set_title(f"{metric} (solid: val, dashed: train)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
