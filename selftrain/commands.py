"""CLI commands of self-training: self-train, pseudo-label."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from workspace import console
from workspace.layout import open_workspace
from workspace.tables import print_rounds

DirArg = Annotated[Path, typer.Argument(help="Workspace folder.")]


def self_train(
    directory: DirArg,
    schedule: Annotated[str, typer.Option(help="Images per class after each round, e.g. 100,600,1000.")] = "100,600,1000",
    threshold: Annotated[float, typer.Option(help="Confidence floor for a pseudo-label (each class also needs "
                                                  "its own threshold: the teacher's mean confidence on it).")] = 0.5,
    mode: Annotated[Optional[str], typer.Option(help="agree (crawled candidates) | pool (unlabelled folder).")] = None,
    pool: Annotated[Optional[Path], typer.Option(help="Folder of unlabelled images (mode pool).")] = None,
    test: Annotated[Optional[Path], typer.Option(
        help="A labelled folder (FOLDER/<class>/...) imported as manual and frozen as the test split: the "
             "only test a noisy crawl can be judged on.")] = None,
    engine: Annotated[Optional[str], typer.Option(help="Engine to crawl candidates with.")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="The engine's base URL (mirror, replica).")] = None,
    allow_private: Annotated[bool, typer.Option(help="Allow private/loopback addresses (local mirrors).")] = False,
    model: Annotated[str, typer.Option(help="Model for teacher and students (see `train --help`).")] = "efficientnet-lite0",
    image_size: Annotated[Optional[int], typer.Option(help="Model input size (default: the model's).")] = None,
    epochs: Annotated[int, typer.Option(help="Maximum epochs per round.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 32,
    patience: Annotated[int, typer.Option(help="Stop after this many rounds without val improvement.")] = 1,
    max_rounds: Annotated[Optional[int], typer.Option(help="Stop after this many rounds.")] = None,
    clean: Annotated[bool, typer.Option(help="Hold back likely off-class round-0 labels (cross-validated).")] = True,
    balance: Annotated[float, typer.Option(help="No class takes more than this x the median class's "
                                                "pseudo-labels in a round.")] = 1.5,
    baseline: Annotated[bool, typer.Option(help="Also train on the raw crawl with the same per-class budget "
                                                 "and print the gain.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1337,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Refuse at once if a self-train, curate or import "
                                                            "is running on DIR.")] = False,
) -> None:
    """Grow each class round by round: crawl or pool → curate → pseudo-label → retrain → evaluate."""
    from selftrain.loop import SelfTrainConfig, self_train as run_self_train
    from training.errors import TrainingError

    try:
        counts = tuple(int(x) for x in schedule.split(","))
    except ValueError:
        raise TrainingError(f"--schedule must be comma-separated counts like 100,600,1000, got {schedule!r}") from None
    ws = open_workspace(directory)
    config = SelfTrainConfig(
        schedule=counts, threshold=threshold, mode=mode or ("pool" if pool else "agree"), pool=pool, test=test,
        engine=engine, base_url=base_url, allow_private=allow_private, model=model, image_size=image_size or 0,
        epochs=epochs, batch_size=batch_size, patience=patience, max_rounds=max_rounds, seed=seed, clean=clean,
        balance=balance, baseline=baseline)
    with stage_locks(ws, ("self-train", "import", "curate"), wait=not no_wait):
        summary = run_self_train(ws, config, notify=console.info)
    print_rounds(summary, ws.config().class_names)
    console.info(f"stopped: {summary.stopped_because}")


@contextmanager
def stage_locks(ws, stages: tuple[str, ...], wait: bool):
    """The loop imports, curates and trains: it holds those stages' locks for its whole run."""
    from workspace.lock import writer_lock

    with ExitStack() as stack:
        for stage in stages:
            stack.enter_context(writer_lock(ws, stage, wait=wait, on_wait=console.warn))
        yield


def pseudo_label_command(
    directory: DirArg,
    run: Annotated[str, typer.Option("--run", help="Teacher run id (DIR/models/<run-id>).")],
    threshold: Annotated[float, typer.Option(help="Confidence floor.")] = 0.5,
    mode: Annotated[str, typer.Option(help="agree | pool.")] = "agree",
    round_: Annotated[int, typer.Option("--round", help="Round number recorded on accepted images.")] = 0,
    balance: Annotated[float, typer.Option(help="Per-class balance limit (x the median class).")] = 1.5,
) -> None:
    """Run one pseudo-labelling step alone; decisions go to DIR/rounds/<round>/decisions.csv."""
    from training.pseudo_label import pseudo_label

    ws = open_workspace(directory)
    summary = pseudo_label(ws, run, threshold, mode, round_, balance=balance)
    console.info(f"judged {summary.candidates} candidates, accepted {summary.accepted} "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(summary.per_class.items())) or 'none'})"
                 + (f"; decisions in {summary.decisions_path}" if summary.decisions_path else ""))
    if summary.starved:
        console.info(f"no confident candidates for: {', '.join(summary.starved)}")


def register(app: typer.Typer) -> None:
    app.command("self-train")(self_train)
    app.command("pseudo-label")(pseudo_label_command)
