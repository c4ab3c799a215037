"""`evaluate`: a run on the frozen test split: accuracy, loss, per-class P/R/F1, figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import run_images, split_images
from training.errors import TrainingError
from training.predict import load_bundle
from training.scoring import score_images
from training.selection import RunChoice
from workspace.dataset import curate_state, latest_version
from workspace.layout import Workspace
from workspace.progress import Progress


@dataclass(frozen=True)
class ClassScore:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class EvalResult:
    run_id: str
    accuracy: float
    loss: float
    images: int
    per_class: list[ClassScore]
    confusion: list[list[int]]
    reason: str = ""                   # why this run (picked as best, or asked for)
    notes: tuple[str, ...] = ()        # warnings: another dataset version, test images it trained on, ...


def evaluate(ws: Workspace, run_id: str | None = None, progress: Progress | None = None) -> EvalResult:
    """Score a run on the catalog's test split, through the run's own input path (and its
    embedding cache when the backbone is frozen)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from training.plots import plot_confusion, plot_wrong

    bundle = load_bundle(ws.root, run_id)
    images = split_images(ws, bundle.class_names, "test")
    if not images:
        raise TrainingError("the test split has no images: make one with `python cli.py curate DIR --split "
                            "0.8,0.1,0.1` (classes without test images get a test share), or give a labelled "
                            "test folder to self-train with --test")
    notes = list(bundle.choice.notes) + staleness_notes(ws, bundle.choice, [i.id for i in images])
    probs, errors = score_images(ws, bundle, [(i.sha256, i.path) for i in images], progress)
    keep = [i for i in range(len(images)) if i not in errors]
    probs, truth = probs[keep], np.array([i.label for i in images])[keep]
    predicted = probs.argmax(axis=1)
    accuracy = float((predicted == truth).mean())
    loss = float(-np.log(np.clip(probs[np.arange(len(truth)), truth], 1e-7, 1.0)).mean())
    indices = list(range(len(bundle.class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=indices, zero_division=0)
    matrix = confusion_matrix(truth, predicted, labels=indices)
    scores = [ClassScore(n, float(p), float(r), float(f), int(s))
              for n, p, r, f, s in zip(bundle.class_names, precision, recall, f1, support)]
    plot_confusion(matrix, bundle.class_names, bundle.run_dir / "confusion_matrix.png")
    wrong = [i for i in range(len(truth)) if predicted[i] != truth[i]]
    wrong.sort(key=lambda i: -probs[i, predicted[i]])
    plot_wrong([(str(images[keep[i]].path), bundle.class_names[truth[i]], bundle.class_names[predicted[i]],
                 float(probs[i, predicted[i]])) for i in wrong[:12]], bundle.run_dir / "most_confident_wrong.png")
    result = EvalResult(bundle.run_dir.name, accuracy, loss, len(truth), scores, matrix.tolist(),
                        bundle.choice.reason, tuple(notes))
    _save(ws, bundle.run_dir, result)
    return result


def staleness_notes(ws: Workspace, choice: RunChoice, test_ids: list[str]) -> list[str]:
    """Warnings when the run did not train on the data it is scored on: an unfinished curate, another
    dataset version, and which of the test images it trained or validated on."""
    notes = []
    with ws.catalog() as catalog:
        problem = curate_state(ws, catalog).problem
    if problem:
        notes.append(f"{problem}; these scores use the splits as the unfinished curate left them")
    if not choice.stale:
        return notes
    notes.append(f"run {choice.run_id} was trained on dataset version {choice.dataset_version or 'unknown'}, "
                 f"the workspace is now at {choice.current_version}: it is scored on data it was not trained for")
    seen = run_images(choice.run_dir)
    if seen is None:
        notes.append(f"run {choice.run_id} predates images.csv: which test images it trained on is unknown")
        return notes
    leaked = [image_id for image_id in test_ids if image_id in seen]
    if leaked:
        shown = ", ".join(f"{i} ({seen[i]})" for i in leaked[:10]) + (", ..." if len(leaked) > 10 else "")
        notes.append(f"{len(leaked)} of the {len(test_ids)} test images were in run {choice.run_id}'s training "
                     f"data, so its accuracy is inflated: {shown}")
    return notes


def _save(ws: Workspace, run_dir: Path, result: EvalResult) -> None:
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    with ws.catalog() as catalog:
        version = latest_version(catalog)
    metrics["test"] = {"dataset_version": version.version if version else None, "accuracy": result.accuracy, "loss": result.loss, "images": result.images,
                       "per_class": [s.__dict__ for s in result.per_class], "confusion": result.confusion}
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    with ws.catalog() as catalog:
        catalog.execute("UPDATE runs SET test_accuracy = ? WHERE id = ?", (result.accuracy, run_dir.name))
