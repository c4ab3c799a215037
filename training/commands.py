"""CLI commands of training: train, evaluate, predict."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from workspace import console
from workspace.layout import open_workspace

DirArg = Annotated[Path, typer.Argument(help="Workspace folder.")]


def train(
    directory: DirArg,
    model: Annotated[Optional[str], typer.Option(
        help="efficientnet-lite0 (default: pretrained, works offline, best for 20-1,000 images per class on a "
             "CPU) | small-cnn (from scratch; tiny or greyscale inputs) | mobilenetv2|efficientnetb0|resnet50|"
             "vgg16|inceptionv3 (keras.applications, --weights imagenet needs internet).")] = None,
    weights: Annotated[Optional[str], typer.Option(
        help="imagenet|none|PATH (.weights.h5 of the backbone without top). Default: imagenet for "
             "efficientnet-lite0 (from its pip package, offline), none otherwise.")] = None,
    image_size: Annotated[Optional[int], typer.Option(
        help="Input size in pixels (default: 224 for efficientnet-lite0, 128 for small-cnn).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs (early stopping may end sooner).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size.")] = None,
    grayscale: Annotated[Optional[bool], typer.Option(help="Train on one channel.")] = None,
    fine_tune: Annotated[Optional[bool], typer.Option(
        help="Transfer models: also fine-tune the top of the backbone on pixels (slow on a CPU; bypasses the "
             "embedding cache).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed.")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Early-stopping patience in epochs.")] = None,
    run_id: Annotated[Optional[str], typer.Option(help="Name the run (rerun the same name to resume it).")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Refuse at once if another train of this --run-id is running on DIR.")] = False,
) -> None:
    """Train a classifier on DIR/curated/{train,val}; writes DIR/models/<run-id>/."""
    from training.train import TrainConfig, train as run_train
    from workspace.config import build_stage_config
    from workspace.lock import writer_lock

    ws = open_workspace(directory)
    config = build_stage_config(TrainConfig, ws.config().section("train"), {
        "model": model, "weights": weights, "image_size": image_size, "epochs": epochs, "batch_size": batch_size,
        "grayscale": grayscale, "fine_tune": fine_tune, "seed": seed, "patience": patience, "run_id": run_id},
        section="train")

    def on_epoch(epoch: int, logs: dict[str, float]) -> None:
        console.info(f"epoch {epoch:3d}  loss {logs.get('loss', 0):.4f}  accuracy {logs.get('accuracy', 0):.3f}"
                     f"  val_loss {logs.get('val_loss', 0):.4f}  val_accuracy {logs.get('val_accuracy', 0):.3f}")

    with writer_lock(ws, f"train-{run_id}", wait=not no_wait, on_wait=console.warn) if run_id else nullcontext(), \
            console.progress_bar("computing features") as progress:
        result = run_train(ws, config, on_epoch=on_epoch, progress=progress)
    if result.already_trained:
        console.info(f"run {result.run_id} already trained ({result.epochs_run} epochs, val accuracy "
                     f"{result.val_accuracy:.3f}); nothing changed. Ask for more --epochs to continue it.")
        return
    table = Table(title=f"run {result.run_id}")
    for column in ("model", "train images", "epochs", "val accuracy", "val loss", "seconds", "folder"):
        table.add_column(column)
    table.add_row(config.model, str(result.train_images), str(result.epochs_run), f"{result.val_accuracy:.3f}",
                  f"{result.val_loss:.3f}", f"{result.seconds:.0f}", str(result.run_dir))
    console.show(table)


def evaluate(
    directory: DirArg,
    run: Annotated[Optional[str], typer.Option("--run", help="Run id (default: the best run).")] = None,
) -> None:
    """Test-split accuracy, loss, per-class precision/recall/F1, confusion matrix, mistakes."""
    from training.evaluate import evaluate as run_evaluate

    ws = open_workspace(directory)
    with console.progress_bar("computing features") as progress:
        result = run_evaluate(ws, run, progress)
    console.info(f"run {result.run_id}: {result.reason}")
    for line in result.notes:
        console.warn(line)
    table = Table(title=f"test split, run {result.run_id}: accuracy {result.accuracy:.3f}, loss {result.loss:.3f}, "
                        f"{result.images} images")
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for s in result.per_class:
        table.add_row(s.name, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support))
    console.show(table)
    console.info(f"figures: {ws.models_dir / result.run_id / 'confusion_matrix.png'}, "
                 f"{ws.models_dir / result.run_id / 'most_confident_wrong.png'}")


def predict(
    model: Annotated[Path, typer.Argument(help="A run folder, or a workspace (its best run).")],
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or folders.")],
    top_k: Annotated[int, typer.Option(help="Classes to show per image.", min=1)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines for scripts.")] = False,
) -> None:
    """Top-k classes with confidences for each image; unreadable files get a per-file error."""
    from training.predict import expand_inputs, load_bundle, predict_files

    bundle = load_bundle(model)
    if bundle.choice:
        console.note(f"using run {bundle.choice.run_id}: {bundle.choice.reason}")
        for line in bundle.choice.notes:
            console.warn(line)
    paths = expand_inputs(inputs)
    if not paths:
        raise typer.BadParameter("no image files found in the given paths")
    predictions = predict_files(bundle, paths, top_k)
    failed = 0
    for p in predictions:
        failed += p.error is not None
        if as_json:
            console.out.print(json.dumps({"path": str(p.path), "error": p.error,
                                          "top": [{"class": c, "confidence": round(v, 6)} for c, v in p.top]}),
                              markup=False, highlight=False)
        elif p.error:
            console.err.print(f"{p.path}: error: {p.error}", markup=False)
        else:
            ranked = ", ".join(f"{c} {v:.1%}" for c, v in p.top)
            console.out.print(f"{p.path}: {ranked}", markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(evaluate)
    app.command()(predict)
