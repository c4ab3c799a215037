"""Pseudo-labelling: a teacher model judges images nobody has labelled yet.

The rule (`decide_labels`, pure):
- `agree` (crawled candidates): the teacher's top class must be the class the image was crawled
  for. `pool` (unlabelled images): the top class is the label.
- The confidence must reach the floor (`--threshold`) and the class's own threshold: the mean
  confidence the teacher gives to known members of that class (its self-confidence on held-out
  labelled images). A class the teacher is always sure of needs more; a hard class needs less.
- Classes fill towards what they still need, most confident first, and none may take more than
  `balance` times the median class's share of the round: a class the teacher over-predicts
  cannot swallow the round, and a class without confident candidates is not made up for.
Accepted images become label source `pseudo` and only ever join train; the others stay in the
catalog as rejected, with their confidence and reason, and are judged again by later teachers.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.errors import TrainingError
from workspace.catalog import Catalog
from workspace.images import LabelSource, reject_labels, return_for_curation
from workspace.layout import Workspace

MODES = ("agree", "pool")
PSEUDO_REJECTIONS = ("low_confidence", "below_class_threshold", "disagrees_with_query", "over_cap", "balance_cap")
DEFAULT_BALANCE = 1.5


@dataclass(frozen=True)
class PoolImage:
    """An image in the pseudo-label pool (waiting for a teacher's label); `query_class` is the class
    it was crawled for, None for an unlabelled pool image."""

    image_id: str
    path: str
    query_class: str | None
    true_class: str | None = None
    sha256: str = ""


@dataclass(frozen=True)
class LabelDecision:
    image_id: str
    path: str
    query_class: str | None
    predicted: str | None
    confidence: float
    accepted: bool
    reason: str | None
    true_class: str | None = None
    threshold: float = 0.0


@dataclass(frozen=True)
class PseudoSummary:
    candidates: int                # images judged: the pool's size this step
    accepted: int
    per_class: dict[str, int]
    precision: float | None        # share of accepted whose true class is known and matches
    decisions_path: Path | None
    starved: tuple[str, ...] = ()  # classes that needed images but had no confident candidate
    thresholds: dict[str, float] | None = None


def class_thresholds(probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                     quantile: float | None = None) -> dict[str, float]:
    """Per class, the mean probability the model gives to its known members (held-out images),
    or that `quantile` of it; classes without such images get none (the floor alone applies)."""
    out: dict[str, float] = {}
    for k, name in enumerate(class_names):
        rows = probabilities[labels == k, k] if len(labels) else np.array([])
        rows = rows[np.isfinite(rows)]
        if len(rows):
            out[name] = float(rows.mean() if quantile is None else np.quantile(rows, quantile))
    return out


def decide_labels(pool: Sequence[PoolImage], probabilities: np.ndarray, class_names: Sequence[str],
                  mode: str, threshold: float, caps: dict[str, int] | None = None,
                  errors: dict[int, str] | None = None, per_class: dict[str, float] | None = None,
                  balance: float | None = None) -> list[LabelDecision]:
    """The acceptance rule, pure: no files, no model. Rows of `probabilities` follow `pool`;
    `caps` is what each class still needs, `per_class` the classes' own thresholds."""
    if mode not in MODES:
        raise TrainingError(f"--mode must be agree or pool, got {mode!r}")
    if not 0.0 < threshold <= 1.0:
        raise TrainingError(f"--threshold must be in (0, 1], got {threshold}")
    errors, per_class = errors or {}, per_class or {}
    decisions: list[LabelDecision] = []
    eligible: dict[str, list[tuple[float, str, int]]] = {}
    for row, item in enumerate(pool):
        if row in errors:
            decisions.append(LabelDecision(item.image_id, item.path, item.query_class, None, 0.0, False,
                                           "unreadable", item.true_class))
            continue
        best = int(np.argmax(probabilities[row]))
        predicted, confidence = class_names[best], float(probabilities[row, best])
        needed = max(threshold, per_class.get(predicted, 0.0))
        reason = None
        if mode == "agree" and predicted != item.query_class:
            reason = "disagrees_with_query"
        elif confidence < threshold:
            reason = "low_confidence"
        elif confidence < needed:
            reason = "below_class_threshold"
        decisions.append(LabelDecision(item.image_id, item.path, item.query_class, predicted, confidence, False,
                                       reason, item.true_class, needed))
        if reason is None:
            eligible.setdefault(predicted, []).append((confidence, item.image_id, len(decisions) - 1))
    takes = _balanced_takes(eligible, class_names, caps, balance)
    for name, entries in eligible.items():
        entries.sort(key=lambda e: (-e[0], e[1]))
        room = len(entries) if caps is None else max(0, caps.get(name, 0))
        for rank, (_, _, index) in enumerate(entries):
            d = decisions[index]
            ok = rank < takes[name]
            reason = None if ok else "over_cap" if rank >= room else "balance_cap"
            decisions[index] = LabelDecision(d.image_id, d.path, d.query_class, d.predicted, d.confidence, ok,
                                             reason, d.true_class, d.threshold)
    return decisions


def _balanced_takes(eligible: dict[str, list], class_names: Sequence[str], caps: dict[str, int] | None,
                    balance: float | None) -> dict[str, int]:
    """How many each class takes: what it needs and has, limited to `balance` x the median take
    of the classes that still need images (at least one each)."""
    wants = {}
    for name in class_names:
        room = len(eligible.get(name, [])) if caps is None else max(0, caps.get(name, 0))
        wants[name] = min(len(eligible.get(name, [])), room)
    if balance is None:
        return wants
    needy = [wants[n] for n in class_names if caps is None or caps.get(n, 0) > 0]
    if not needy:
        return wants
    limit = max(1, math.ceil(balance * statistics.median(needy)))
    return {name: min(take, limit) for name, take in wants.items()}


def starved_classes(decisions: Sequence[LabelDecision], caps: dict[str, int] | None,
                    class_names: Sequence[str]) -> tuple[str, ...]:
    """Classes that needed images this round and accepted none."""
    accepted = {d.predicted for d in decisions if d.accepted}
    return tuple(n for n in class_names if (caps is None or caps.get(n, 0) > 0) and n not in accepted)


def pseudo_label_pool(catalog: Catalog, mode: str, truth: dict[str, str] | None = None) -> list[PoolImage]:
    """Images waiting for a label: unjudged round candidates / pool images, plus earlier pseudo
    rejections (a better teacher may accept them now). Agree mode needs a query class."""
    marks = ",".join("?" * len(PSEUDO_REJECTIONS))
    rows = catalog.all(
        "SELECT id, path, class, source, sha256 FROM images WHERE path IS NOT NULL AND ("
        f" status = 'unlabelled' OR (status = 'rejected' AND reason IN ({marks}))) ORDER BY added_at, id",
        PSEUDO_REJECTIONS)
    truth = truth or {}
    return [PoolImage(r["id"], r["path"], r["class"], truth.get(r["source"]), r["sha256"]) for r in rows
            if mode == "pool" or r["class"] is not None]


def apply_decisions(catalog: Catalog, decisions: Sequence[LabelDecision], round_: int) -> None:
    """Accepted → label source `pseudo`, class = predicted, ready for train; others rejected.
    One transaction: a killed step leaves all of it or none."""
    with catalog.transaction() as conn:
        return_for_curation(conn, [(d.image_id, d.predicted, d.confidence, round_) for d in decisions if d.accepted],
                            LabelSource.PSEUDO)
        reject_labels(conn, [(d.image_id, d.reason, d.confidence, round_) for d in decisions
                             if not d.accepted and d.reason != "unreadable"])


def write_decisions(decisions: Sequence[LabelDecision], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "path", "query_class", "predicted", "confidence", "threshold", "accepted",
                         "reason", "true_class"])
        for d in decisions:
            writer.writerow([d.image_id, d.path, d.query_class or "", d.predicted or "", f"{d.confidence:.4f}",
                             f"{d.threshold:.4f}", int(d.accepted), d.reason or "", d.true_class or ""])


def precision_of(decisions: Sequence[LabelDecision]) -> float | None:
    known = [d for d in decisions if d.accepted and d.true_class]
    return sum(d.predicted == d.true_class for d in known) / len(known) if known else None


def teacher_thresholds(ws: Workspace, bundle, quantile: float | None = None) -> dict[str, float]:
    """The teacher's per-class self-confidence on the validation split (held out from it)."""
    from training.data import split_images
    from training.scoring import score_images

    images = split_images(ws, bundle.class_names, "val")
    if not images:
        return {}
    probs, errors = score_images(ws, bundle, [(i.sha256, i.path) for i in images])
    keep = [r for r in range(len(images)) if r not in errors]
    return class_thresholds(probs[keep], np.array([images[r].label for r in keep]), bundle.class_names, quantile)


def pseudo_label(ws: Workspace, run_id: str, threshold: float, mode: str = "agree", round_: int = 0,
                 caps: dict[str, int] | None = None, truth: dict[str, str] | None = None,
                 out_dir: Path | None = None, balance: float | None = DEFAULT_BALANCE,
                 per_class_thresholds: bool = True, class_quantile: float | None = None) -> PseudoSummary:
    """One labelling step with a trained run as teacher (never noised: inference only)."""
    from training.predict import load_bundle
    from training.scoring import score_images

    bundle = load_bundle(ws.models_dir / run_id)
    per_class = teacher_thresholds(ws, bundle, class_quantile) if per_class_thresholds else {}
    with ws.catalog() as catalog:
        pool = pseudo_label_pool(catalog, mode, truth)
    if not pool:
        return PseudoSummary(0, 0, {}, None, None, starved_classes([], caps, bundle.class_names), per_class)
    probabilities, errors = score_images(ws, bundle, [(c.sha256, ws.root / c.path) for c in pool])
    decisions = decide_labels(pool, probabilities, bundle.class_names, mode, threshold, caps, errors,
                              per_class, balance)
    path = (out_dir or ws.rounds_dir / str(round_)) / "decisions.csv"
    write_decisions(decisions, path)
    with ws.catalog() as catalog:
        apply_decisions(catalog, decisions, round_)
    counts: dict[str, int] = {}
    for d in decisions:
        if d.accepted and d.predicted:
            counts[d.predicted] = counts.get(d.predicted, 0) + 1
    return PseudoSummary(len(pool), sum(counts.values()), counts, precision_of(decisions), path,
                         starved_classes(decisions, caps, bundle.class_names), per_class)
