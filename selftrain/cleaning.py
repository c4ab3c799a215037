"""Round 0 is cleaned before it is trusted: query labels from real engines are 10-30 % off-class.

Every query-labelled train/val image is scored by a model that never saw it (k-fold
cross-validation, cheap on cached features). The rule is confident learning's: per class, the
threshold is the mean out-of-sample probability of that class over the images labelled with it
(its self-confidence). An image is held back when some other class reaches its own threshold
(the model is confidently elsewhere) *and* its labelled class falls below OWN_FACTOR times that
class's threshold. Confident learning's plain rule (factor 1) caught 87 % of off-class images
but at 0.58 precision in `bench/selftrain_rules.py`; half the threshold keeps most of the
recall at 0.75 precision (BENCHMARKS.md).
Held-back images stay in the catalog as `rejected`, reason `likely_off_class`, with the
probability of their query class; nothing is deleted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import LabelledImage
from workspace.images import reject_many
from workspace.layout import Workspace
from workspace.progress import Progress
from workspace.stage_runs import has_finished, record_finished_run

STAGE = "clean-labels"
REASON = "likely_off_class"
OWN_FACTOR = 0.5


@dataclass(frozen=True)
class OffClassRule:
    """The thresholds found, and which rows are held back."""

    thresholds: np.ndarray      # per class
    held_back: np.ndarray       # bool per row


@dataclass(frozen=True)
class CleaningSummary:
    checked: int
    held_back: dict[str, int]   # per class
    thresholds: dict[str, float]
    already_done: bool = False
    decisions_path: Path | None = None
    skipped: str | None = None  # why nothing was judged (a model no better than chance)


TRUST_KAPPA = 0.4


def trustworthy(agreement: float, classes: int) -> bool:
    """A model judges labels only when its agreement with the query labels is at least 0.4 of the
    way from chance to perfect (Cohen's kappa >= 0.4 for balanced classes). The labels it is
    measured against are themselves up to 30 % off-class, so even a perfect model agrees at most
    0.7 with them (kappa 0.625 for 5 classes): the earlier bar, halfway, refused Lite0 teachers
    that agreed 0.55-0.56 out of sample on two of three replica seeds and were right on 0.72-0.75 of
    a clean hold-out. A model near chance (small-cnn on a few dozen images: cleaning precision
    0.30 in the bench) stays refused."""
    chance = 1.0 / max(1, classes)
    return agreement >= chance + TRUST_KAPPA * (1.0 - chance) - 1e-9


def find_off_class(probabilities: np.ndarray, labels: np.ndarray, own_factor: float = OWN_FACTOR) -> OffClassRule:
    """Confident learning's off-diagonal rule over out-of-sample `probabilities` (n, classes),
    with the labelled class required below `own_factor` x its threshold."""
    classes = probabilities.shape[1]
    thresholds = np.ones(classes, dtype=np.float64)
    for k in range(classes):
        members = probabilities[labels == k, k]
        if len(members):
            thresholds[k] = float(members.mean())
    own = probabilities[np.arange(len(labels)), labels]
    above = probabilities >= thresholds[None, :]
    above[np.arange(len(labels)), labels] = False
    return OffClassRule(thresholds, (own < own_factor * thresholds[labels]) & above.any(axis=1))


def cleaning_done(ws: Workspace) -> bool:
    with ws.catalog() as catalog:
        return has_finished(catalog, STAGE)


def query_labelled(ws: Workspace, class_names: list[str]) -> list[LabelledImage]:
    """Train and val images whose label is a query label (manual labels are never second-guessed)."""
    index = {name: i for i, name in enumerate(class_names)}
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT id, sha256, path, class, split FROM images WHERE status = 'accepted'"
                           " AND label_source = 'query' AND split IN ('train', 'val') ORDER BY id")
    return [LabelledImage(r["id"], r["sha256"], ws.root / r["path"], index[r["class"]], r["split"])
            for r in rows if r["class"] in index]


def record_cleaning(ws: Workspace, images: list[LabelledImage], rows: list[int], probabilities: np.ndarray,
                    rule: OffClassRule, class_names: list[str], out: Path) -> CleaningSummary:
    """decisions CSV first, then the catalog and the stage record in one transaction."""
    held: dict[str, int] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "path", "query_class", "probability", "threshold", "best_other", "held_back"])
        for k, row in enumerate(rows):
            image, label = images[row], images[row].label
            others = probabilities[k].copy()
            others[label] = -1
            writer.writerow([image.id, image.path.name, class_names[label], f"{probabilities[k, label]:.4f}",
                             f"{rule.thresholds[label]:.4f}", class_names[int(others.argmax())],
                             int(rule.held_back[k])])
    thresholds = {class_names[k]: round(float(t), 4) for k, t in enumerate(rule.thresholds)}
    rejections = []
    for k, row in enumerate(rows):
        if rule.held_back[k]:
            image = images[row]
            rejections.append((image.id, REASON, float(probabilities[k, image.label])))
            held[class_names[image.label]] = held.get(class_names[image.label], 0) + 1
    with ws.catalog() as catalog, catalog.transaction() as conn:
        reject_many(conn, rejections)
        record_finished_run(conn, STAGE, {"thresholds": thresholds}, {"checked": len(rows), "held_back": held})
    return CleaningSummary(len(rows), held, thresholds, False, out)


def clean_query_labels(ws: Workspace, class_names: list[str], scorer, out: Path,
                       progress: Progress | None = None) -> CleaningSummary:
    """Hold back likely off-class query-labelled images, once per workspace.
    `scorer(images, progress) -> (probabilities, readable rows)` gives out-of-sample scores."""
    if cleaning_done(ws):
        return CleaningSummary(0, {}, {}, already_done=True)
    images = query_labelled(ws, class_names)
    if len({i.label for i in images}) < 2:
        return CleaningSummary(0, {}, {})
    probabilities, rows = scorer(images, progress)
    labels = np.array([images[r].label for r in rows], dtype=np.int64)
    agreement = float((probabilities.argmax(axis=1) == labels).mean()) if len(rows) else 0.0
    if not trustworthy(agreement, len(class_names)):
        return CleaningSummary(len(rows), {}, {}, skipped=f"out-of-sample accuracy {agreement:.2f} is too close to "
                                                            f"chance ({1 / len(class_names):.2f}) to judge labels")
    rule = find_off_class(probabilities, labels)
    return record_cleaning(ws, images, rows, probabilities, rule, class_names, out)
