"""CLI commands of self-training: self-train, pseudo-label."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from selftrain.compare import PairedComparison
from workspace import console
from workspace.layout import open_workspace

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


def print_rounds(summary, class_names: list[str]) -> None:
    """The round table, what its test can be trusted for, and the gain over the raw crawl."""
    from selftrain.loop import describe_test_labels

    table = Table(title="self-training rounds")
    for column in ("round", *class_names, "accepted", "test accuracy", "pseudo-label precision"):
        table.add_column(column, justify="right")
    for r in summary.rounds:
        cells = []
        for name in class_names:
            sources = r.per_class.get(name, {})
            pseudo = sources.get("pseudo", 0)
            cells.append(f"{sum(sources.values())}" + (f" ({pseudo} pseudo)" if pseudo else ""))
        table.add_row(str(r.round), *cells, str(r.accepted), f"{r.test_accuracy:.3f}",
                      "-" if r.pseudo_precision is None else f"{r.pseudo_precision:.3f}")
    base = summary.baseline
    if base is not None:
        table.add_row("raw crawl, same budget", *(f"{base.per_class.get(n, 0)} (train)" for n in class_names), "-",
                      f"{base.test_accuracy:.3f}",
                      "-" if base.label_precision is None else f"{base.label_precision:.3f} (labels)")
    console.show(table)
    if summary.rounds:
        last = summary.rounds[-1]
        console.info(describe_test_labels(last.test_labels, last.test_images, last.smallest_test_class))
        held_back = summary.rounds[0].held_back
        if held_back:
            console.info(f"round 0 held back {held_back} likely off-class query labels (see the report)")
        if summary.comparison is not None:
            console.info(describe_gain(summary.comparison))


def describe_gain(c: PairedComparison) -> str:
    """The gain over the raw crawl, with what a paired test on these test images makes of it."""
    verdict = ("a real difference" if c.significant
               else "within the noise of this test set: it cannot tell these two apart")
    return (f"gain of self-training over the raw crawl: {c.gain * 100:+.1f} points ({c.accuracy_a:.3f} vs "
            f"{c.accuracy_b:.3f} on the same {c.images} test images; right only after self-training "
            f"{c.only_a}, only with the raw crawl {c.only_b}: McNemar p = {c.p_value:.2f}, {verdict})")


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
