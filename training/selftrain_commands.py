"""CLI commands of self-training: self-train, pseudo-label."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from workspace import console
from workspace.layout import open_workspace

DirArg = Annotated[Path, typer.Argument(help="Workspace folder.")]


def self_train(
    directory: DirArg,
    schedule: Annotated[str, typer.Option(help="Images per class after each round, e.g. 100,600,1000.")] = "100,600,1000",
    threshold: Annotated[float, typer.Option(help="Minimum teacher confidence to accept a pseudo-label.")] = 0.9,
    mode: Annotated[Optional[str], typer.Option(help="agree (crawled candidates) | pool (unlabelled folder).")] = None,
    pool: Annotated[Optional[Path], typer.Option(help="Folder of unlabelled images (mode pool).")] = None,
    engine: Annotated[Optional[str], typer.Option(help="Engine to crawl candidates with.")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="The engine's base URL (mirror, replica).")] = None,
    allow_private: Annotated[bool, typer.Option(help="Allow private/loopback addresses (local mirrors).")] = False,
    model: Annotated[str, typer.Option(help="Model for teacher and students.")] = "small-cnn",
    image_size: Annotated[int, typer.Option(help="Model input size.")] = 128,
    epochs: Annotated[int, typer.Option(help="Maximum epochs per round.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 32,
    patience: Annotated[int, typer.Option(help="Stop after this many rounds without val improvement.")] = 1,
    max_rounds: Annotated[Optional[int], typer.Option(help="Stop after this many rounds.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1337,
) -> None:
    """Grow each class round by round: crawl or pool → curate → pseudo-label → retrain → evaluate."""
    from training.errors import TrainingError
    from training.selftrain import SelfTrainConfig, self_train as run_self_train

    try:
        counts = tuple(int(x) for x in schedule.split(","))
    except ValueError:
        raise TrainingError(f"--schedule must be comma-separated counts like 100,600,1000, got {schedule!r}") from None
    ws = open_workspace(directory)
    config = SelfTrainConfig(
        schedule=counts, threshold=threshold, mode=mode or ("pool" if pool else "agree"), pool=pool, engine=engine,
        base_url=base_url, allow_private=allow_private, model=model, image_size=image_size, epochs=epochs,
        batch_size=batch_size, patience=patience, max_rounds=max_rounds, seed=seed)
    summary = run_self_train(ws, config, notify=console.info)
    print_rounds(summary.rounds, ws.config().class_names)
    console.info(f"stopped: {summary.stopped_because}")


def print_rounds(rounds, class_names: list[str]) -> None:
    table = Table(title="self-training rounds")
    for column in ("round", *class_names, "accepted", "test accuracy", "pseudo-label precision"):
        table.add_column(column, justify="right")
    for r in rounds:
        cells = []
        for name in class_names:
            sources = r.per_class.get(name, {})
            pseudo = sources.get("pseudo", 0)
            cells.append(f"{sum(sources.values())}" + (f" ({pseudo} pseudo)" if pseudo else ""))
        table.add_row(str(r.round), *cells, str(r.accepted), f"{r.test_accuracy:.3f}",
                      "-" if r.pseudo_precision is None else f"{r.pseudo_precision:.3f}")
    console.out.print(table)


def pseudo_label_command(
    directory: DirArg,
    run: Annotated[str, typer.Option("--run", help="Teacher run id (DIR/models/<run-id>).")],
    threshold: Annotated[float, typer.Option(help="Minimum confidence to accept.")] = 0.9,
    mode: Annotated[str, typer.Option(help="agree | pool.")] = "agree",
    round_: Annotated[int, typer.Option("--round", help="Round number recorded on accepted images.")] = 0,
) -> None:
    """Run one pseudo-labelling step alone; decisions go to DIR/rounds/<round>/decisions.csv."""
    from training.pseudo_label import pseudo_label

    ws = open_workspace(directory)
    summary = pseudo_label(ws, run, threshold, mode, round_)
    console.info(f"judged {summary.candidates} candidates, accepted {summary.accepted} "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(summary.per_class.items())) or 'none'})"
                 + (f"; decisions in {summary.decisions_path}" if summary.decisions_path else ""))


def register(app: typer.Typer) -> None:
    app.command("self-train")(self_train)
    app.command("pseudo-label")(pseudo_label_command)
