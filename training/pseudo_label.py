"""Pseudo-labelling: a teacher model judges images nobody has labelled yet.

`agree` (crawled candidates): accepted when the predicted class is the class it was crawled for
and the confidence reaches the threshold. `pool` (unlabelled images): accepted when the
confidence reaches the threshold, under the predicted class. Per-class caps keep classes
balanced (most confident first). Accepted images become label source `pseudo` and only ever join
train; the others stay in the catalog as rejected, with their confidence and reason.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.errors import TrainingError
from workspace.catalog import Catalog
from workspace.layout import Workspace

MODES = ("agree", "pool")
PSEUDO_REJECTIONS = ("low_confidence", "disagrees_with_query", "over_cap")


@dataclass(frozen=True)
class Candidate:
    image_id: str
    path: str
    query_class: str | None
    true_class: str | None = None


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


@dataclass(frozen=True)
class PseudoSummary:
    candidates: int
    accepted: int
    per_class: dict[str, int]
    precision: float | None        # share of accepted whose true class is known and matches
    decisions_path: Path | None


def decide_labels(candidates: Sequence[Candidate], probabilities: np.ndarray, class_names: Sequence[str],
                  mode: str, threshold: float, caps: dict[str, int] | None = None,
                  errors: dict[int, str] | None = None) -> list[LabelDecision]:
    """The acceptance rule, pure: no files, no model. Rows of `probabilities` follow `candidates`."""
    if mode not in MODES:
        raise TrainingError(f"--mode must be agree or pool, got {mode!r}")
    if not 0.0 < threshold <= 1.0:
        raise TrainingError(f"--threshold must be in (0, 1], got {threshold}")
    errors = errors or {}
    decisions: list[LabelDecision | None] = [None] * len(candidates)
    eligible: dict[str, list[tuple[float, int]]] = {}
    for row, item in enumerate(candidates):
        if row in errors:
            decisions[row] = LabelDecision(item.image_id, item.path, item.query_class, None, 0.0, False,
                                           "unreadable", item.true_class)
            continue
        best = int(np.argmax(probabilities[row]))
        predicted, confidence = class_names[best], float(probabilities[row, best])
        reason = None
        if mode == "agree" and predicted != item.query_class:
            reason = "disagrees_with_query"
        elif confidence < threshold:
            reason = "low_confidence"
        decisions[row] = LabelDecision(item.image_id, item.path, item.query_class, predicted, confidence,
                                       False, reason, item.true_class)
        if reason is None:
            eligible.setdefault(predicted, []).append((confidence, row))
    for name, entries in eligible.items():
        entries.sort(key=lambda e: (-e[0], candidates[e[1]].image_id))
        cap = None if caps is None else max(0, caps.get(name, 0))
        for rank, (_, row) in enumerate(entries):
            d = decisions[row]
            assert d is not None
            ok = cap is None or rank < cap
            decisions[row] = LabelDecision(d.image_id, d.path, d.query_class, d.predicted, d.confidence, ok,
                                           None if ok else "over_cap", d.true_class)
    return [d for d in decisions if d is not None]


def pending_candidates(catalog: Catalog, mode: str, truth: dict[str, str] | None = None) -> list[Candidate]:
    """Images waiting for a label: unjudged round candidates / pool images, plus earlier pseudo
    rejections (a better teacher may accept them now). Agree mode needs a query class."""
    rows = catalog.all(
        "SELECT id, path, class, source FROM images WHERE path IS NOT NULL AND ("
        " status = 'unlabelled' OR (status = 'rejected' AND reason IN ('low_confidence',"
        " 'disagrees_with_query', 'over_cap'))) ORDER BY added_at, id")
    truth = truth or {}
    return [Candidate(r["id"], r["path"], r["class"], truth.get(r["source"])) for r in rows
            if mode == "pool" or r["class"] is not None]


def apply_decisions(catalog: Catalog, decisions: Sequence[LabelDecision], round_: int) -> None:
    """Accepted → label source `pseudo`, class = predicted, ready for train; others rejected."""
    with catalog.transaction() as conn:
        for d in decisions:
            if d.accepted:
                conn.execute("UPDATE images SET class = ?, label_source = 'pseudo', status = 'stored', reason = NULL,"
                             " confidence = ?, round = ?, split = NULL WHERE id = ?",
                             (d.predicted, d.confidence, round_, d.image_id))
            elif d.reason != "unreadable":
                conn.execute("UPDATE images SET status = 'rejected', reason = ?, confidence = ?, round = ?"
                             " WHERE id = ?", (d.reason, d.confidence, round_, d.image_id))


def write_decisions(decisions: Sequence[LabelDecision], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "path", "query_class", "predicted", "confidence", "accepted", "reason",
                         "true_class"])
        for d in decisions:
            writer.writerow([d.image_id, d.path, d.query_class or "", d.predicted or "", f"{d.confidence:.4f}",
                             int(d.accepted), d.reason or "", d.true_class or ""])


def precision_of(decisions: Sequence[LabelDecision]) -> float | None:
    known = [d for d in decisions if d.accepted and d.true_class]
    return sum(d.predicted == d.true_class for d in known) / len(known) if known else None


def pseudo_label(ws: Workspace, run_id: str, threshold: float, mode: str = "agree", round_: int = 0,
                 caps: dict[str, int] | None = None, truth: dict[str, str] | None = None,
                 out_dir: Path | None = None) -> PseudoSummary:
    """One labelling step with a trained run as teacher."""
    from training.predict import load_bundle
    from training.scoring import score_images

    bundle = load_bundle(ws.models_dir / run_id)
    with ws.catalog() as catalog:
        candidates = pending_candidates(catalog, mode, truth)
        if not candidates:
            return PseudoSummary(0, 0, {}, None, None)
        digests = {r["id"]: r["sha256"] for r in catalog.all("SELECT id, sha256 FROM images WHERE path IS NOT NULL")}
        probabilities, errors = score_images(ws, bundle, [(digests[c.image_id], ws.root / c.path) for c in candidates])
        decisions = decide_labels(candidates, probabilities, bundle.class_names, mode, threshold, caps, errors)
        apply_decisions(catalog, decisions, round_)
    path = (out_dir or ws.rounds_dir / str(round_)) / "decisions.csv"
    write_decisions(decisions, path)
    per_class: dict[str, int] = {}
    for d in decisions:
        if d.accepted and d.predicted:
            per_class[d.predicted] = per_class.get(d.predicted, 0) + 1
    return PseudoSummary(len(candidates), sum(per_class.values()), per_class, precision_of(decisions), path)
