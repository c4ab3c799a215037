"""CLI command `runs`: one row per training run, as a table, JSON, or a figure of the curves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from workspace import console
from workspace.layout import open_workspace
from workspace.runs import RunRow, list_runs, plot_runs, select_runs

COLUMNS = ("run", "model", "weights", "image size", "batch", "epochs run", "seconds", "train images/s",
           "val accuracy", "test accuracy", "dataset version")


def runs(
    directory: Annotated[Path, typer.Argument(help="Workspace folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON for scripts.")] = False,
    plot: Annotated[bool, typer.Option("--plot", help="Write DIR/reports/runs.png: accuracy and loss "
                                                      "curves of the selected runs.")] = False,
    run: Annotated[Optional[list[str]], typer.Option("--run", help="Only this run (repeat for more).")] = None,
) -> None:
    """Compare training runs: model, weights, image size, batch, epochs, time, speed, accuracy."""
    ws = open_workspace(directory)
    rows = select_runs(list_runs(ws), run)
    figure = plot_runs(rows, ws.reports_dir / "runs.png") if plot else None
    if as_json:
        console.emit_json([row.to_json() for row in rows])
        return
    console.out.print(runs_table(rows, title=f"runs in {directory}"))
    for row in rows:
        if row.state == "unreadable":
            console.err.print(f"run {row.run} is unreadable: {row.problem}", markup=False)
    if figure:
        console.info(f"wrote {figure}")


def runs_table(rows: list[RunRow], title: str) -> Table:
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("run", "model", "weights") else "right")
    for row in rows:
        if row.state == "unreadable":
            table.add_row(Text(row.run), "(unreadable)", *[""] * (len(COLUMNS) - 2))
            continue
        table.add_row(Text(row.run), Text(row.model or ""), Text(row.weights or ""), _cell(row.image_size), _cell(row.batch_size),
                      _cell(row.epochs_run), _cell(row.seconds, "{:.0f}"), _cell(row.images_per_second, "{:.1f}"),
                      _cell(row.val_accuracy, "{:.3f}"), _cell(row.test_accuracy, "{:.3f}"),
                      Text(row.dataset_version or ""))
    return table


def _cell(value: object, pattern: str = "{}") -> str:
    return "" if value is None else pattern.format(value)


def register(app: typer.Typer) -> None:
    app.command()(runs)
