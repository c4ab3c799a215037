"""The self-training loop: an outer loop over rounds, each resumable, each in DIR/rounds/<k>/.

Round 0 gathers schedule[0] labelled images per class (crawl or imports), curates (the test
split is created here and then frozen, or pinned from `--test FOLDER`), holds back likely
off-class query labels found by cross-validation, trains the teacher and evaluates it. Round k
gathers candidates (crawled as `candidate`, or an unlabelled pool), curates them against
everything stored, lets the teacher pseudo-label them towards schedule[k] per class (agreement,
per-class thresholds, balance), trains a fresh student on the grown train split and evaluates
it on the same test split. It stops when the schedule is done, a round accepts nothing, or
validation accuracy has not improved for `patience` rounds.

The loop only orchestrates: crawling, curation and training are the stages it calls. Truth
about pseudo-labels (a replica site's, a benchmark's) is given to it, never fetched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from selftrain import stages
from selftrain.cleaning import trustworthy
from selftrain.compare import PairedComparison, paired_comparison
from selftrain.testset import describe_test_split, import_clean_test_folder
from training.errors import TrainingError
from training.pseudo_label import MODES, pseudo_label
from workspace.images import accepted_per_class_and_source
from workspace.layout import Workspace
from workspace.rounds import RoundDetails, finish_round, start_round

log = logging.getLogger(__name__)

Notify = Callable[[str], None]


@dataclass(frozen=True)
class SelfTrainConfig:
    schedule: tuple[int, ...] = (100, 600, 1000)
    threshold: float = 0.5
    mode: str = "agree"
    pool: Path | None = None
    test: Path | None = None
    engine: str | None = None
    base_url: str | None = None
    allow_private: bool = False
    model: str = "efficientnet-lite0"
    image_size: int = 0                  # 0: the model's default
    epochs: int = 30
    batch_size: int = 32
    train_patience: int = 5
    patience: int = 1
    max_rounds: int | None = None
    candidate_factor: float = 2.0
    curate_size: int | None = None
    seed: int = 1337
    workers: int = 8
    clean: bool = True                   # hold back likely off-class round-0 labels
    balance: float = 1.5                 # no class takes more than this x the median class's share
    class_thresholds: bool = True        # each class's own threshold above the floor
    class_quantile: float | None = None  # that threshold: None = the mean self-confidence, else this quantile
    baseline: bool = False               # also train on the raw crawl, same per-class budget

    def __post_init__(self) -> None:
        if not self.schedule or any(n < 1 for n in self.schedule) or list(self.schedule) != sorted(self.schedule):
            raise TrainingError(f"--schedule must be increasing positive counts like 100,600,1000, got "
                                f"{','.join(map(str, self.schedule))}")
        if self.mode not in MODES:
            raise TrainingError(f"--mode must be agree or pool, got {self.mode!r}")
        if self.mode == "pool" and self.pool is None:
            raise TrainingError("--mode pool needs --pool FOLDER (the unlabelled images)")
        if self.mode == "agree" and self.engine is None:
            raise TrainingError("--mode agree crawls new candidates: give --engine (and --base-url for a mirror)")
        if not 0 < self.threshold <= 1:
            raise TrainingError(f"--threshold must be in (0, 1], got {self.threshold}")
        if self.balance < 1:
            raise TrainingError(f"--balance must be >= 1, got {self.balance}")


@dataclass(frozen=True)
class RoundResult:
    round: int
    run_id: str
    per_class: dict[str, dict[str, int]]          # class -> label source -> accepted images
    accepted: int
    candidates: int
    val_accuracy: float
    test_accuracy: float
    pseudo_precision: float | None
    test_images: int = 0
    test_labels: str = "query"                    # manual (clean) | query (noisy)
    held_back: int = 0                            # likely off-class round-0 labels
    starved: tuple[str, ...] = ()                 # classes with no confident candidate
    smallest_test_class: int = 0


@dataclass(frozen=True)
class Baseline:
    """The raw crawl, same per-class budget, same model: what self-training must beat."""

    run_id: str
    per_class: dict[str, int]
    test_accuracy: float
    label_precision: float | None


@dataclass(frozen=True)
class SelfTrainSummary:
    rounds: list[RoundResult] = field(default_factory=list)
    stopped_because: str = ""
    baseline: Baseline | None = None
    comparison: PairedComparison | None = None    # last round against the baseline, same test images


def self_train(ws: Workspace, config: SelfTrainConfig, notify: Notify | None = None,
               truth: dict[str, str] | None = None) -> SelfTrainSummary:
    """Run (or resume) the rounds; `truth` maps a source URL to its true class where known."""
    notify = notify or (lambda message: log.info(message))
    if config.test is not None:
        summary = import_clean_test_folder(ws, config.test)
        notify(f"clean test set: {summary.images} images from {config.test}"
               + (f" ({summary.released} crawled images left the test split)" if summary.released else ""))
    results = load_rounds(ws)
    best_val, stale = -1.0, 0
    for r in results:
        best_val, stale = (r.val_accuracy, 0) if r.val_accuracy > best_val + 1e-9 else (best_val, stale + 1)
    last_round = len(config.schedule) - 1
    if config.max_rounds is not None:
        last_round = min(last_round, config.max_rounds - 1)
    reason = "schedule done" if last_round == len(config.schedule) - 1 else f"--max-rounds {config.max_rounds} reached"
    for k in range(len(results), last_round + 1):
        if stale >= config.patience and k > 1:
            reason = f"validation accuracy did not improve for {config.patience} round(s)"
            break
        notify(f"round {k}: target {config.schedule[k]} images per class")
        result = run_round(ws, config, k, notify, truth or {})
        results.append(result)
        if k > 0 and result.accepted == 0:
            reason = "the round accepted nothing new"
            break
        best_val, stale = (result.val_accuracy, 0) if result.val_accuracy > best_val + 1e-9 else (best_val, stale + 1)
    baseline, comparison = None, None
    if config.baseline and results:
        baseline = stages.raw_baseline(ws, config, truth or {}, notify)
        comparison = paired_comparison(ws, results[-1].run_id, baseline.run_id)
    return SelfTrainSummary(results, reason, baseline, comparison)


def load_rounds(ws: Workspace) -> list[RoundResult]:
    """Finished rounds, in order (a round still `running` is redone from its idempotent steps)."""
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT * FROM rounds WHERE state = 'done' ORDER BY round")
    results = []
    for expected, row in enumerate(rows):
        if row["round"] != expected:
            break
        details = RoundDetails.from_json(row["details"])
        results.append(RoundResult(
            row["round"], row["run_id"], details.per_class, row["accepted"] or 0, row["candidates"] or 0,
            row["val_accuracy"] or 0.0, row["test_accuracy"] or 0.0, row["pseudo_precision"],
            details.test_images, details.test_labels, details.held_back, details.starved,
            details.smallest_test_class))
    return results


def run_round(ws: Workspace, config: SelfTrainConfig, k: int, notify: Notify, truth: dict[str, str]) -> RoundResult:
    target = config.schedule[k]
    round_dir = ws.rounds_dir / str(k)
    round_dir.mkdir(parents=True, exist_ok=True)
    with ws.catalog() as catalog:
        start_round(catalog, k, target)
    candidates, accepted, precision, held_back, starved = 0, 0, None, 0, ()
    if k == 0:
        stages.gather_labelled(ws, config, target, notify)
        stages.curate_workspace(ws, config)
        if config.clean:
            cleaning = stages.clean_round_zero(ws, config, round_dir, notify)
            held_back = sum(cleaning.held_back.values())
    else:
        stages.gather_candidates(ws, config, remaining_per_class(ws, target), notify)
        stages.curate_workspace(ws, config)
        teacher = f"round-{k - 1}"
        teacher_val = stages.teacher_accuracy(ws, teacher)
        if not labelled_in_round(ws, k) and not trustworthy(teacher_val, len(ws.config().class_names)):
            caps = remaining_per_class(ws, target)
            candidates, accepted, precision = stages.accept_query_labels(ws, caps, k, truth,
                                                                         round_dir / "decisions.csv")
            notify(f"round {k}: the teacher's validation accuracy {teacher_val:.2f} is too close to chance to judge; "
                   f"took {accepted} candidates by their query class, as the raw crawl would")
        elif not labelled_in_round(ws, k):   # a killed round never labels twice
            caps = remaining_per_class(ws, target)
            notify(f"round {k}: pseudo-labelling with {teacher} (floor {config.threshold}, "
                   f"{describe_class_thresholds(config)}, balance {config.balance}, mode {config.mode})")
            summary = pseudo_label(ws, teacher, config.threshold, config.mode, k, caps, truth, round_dir,
                                   balance=config.balance, per_class_thresholds=config.class_thresholds,
                                   class_quantile=config.class_quantile)
            candidates, accepted, precision, starved = (summary.candidates, summary.accepted, summary.precision,
                                                        summary.starved)
            if starved:
                notify(f"round {k}: no confident candidates for {', '.join(starved)}")
        else:
            candidates, accepted, precision = stages.recorded_labelling(ws, k, truth)
        stages.curate_workspace(ws, config)
        stages.write_audit_sheet(ws, round_dir / "decisions.csv", round_dir / "audit.png")
    run_id = f"round-{k}"
    val_accuracy = stages.train_round(ws, config, k, run_id, notify)
    test = stages.evaluate_round(ws, run_id)
    labels, test_images, smallest = describe_test_split(ws)
    result = RoundResult(k, run_id, label_counts(ws), accepted, candidates, val_accuracy, test.accuracy, precision,
                         test_images, labels, held_back, starved, smallest)
    (round_dir / "metrics.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    details = RoundDetails(result.per_class, test_images, labels, smallest, held_back, tuple(starved))
    with ws.catalog() as catalog:
        finish_round(catalog, k, run_id, candidates, accepted, val_accuracy, test.accuracy, precision, details)
    notify(f"round {k}: test accuracy {test.accuracy:.3f} ({describe_test_labels(labels, test_images, smallest)}), "
           f"accepted {accepted}" + (f", pseudo-label precision {precision:.3f}" if precision is not None else ""))
    return result


def describe_class_thresholds(config: SelfTrainConfig) -> str:
    if not config.class_thresholds:
        return "no per-class thresholds"
    if config.class_quantile is None:
        return "per-class thresholds at the mean self-confidence"
    return f"per-class thresholds at the {config.class_quantile:g} quantile of self-confidence"


def describe_test_labels(labels: str, images: int, smallest: int) -> str:
    """How much a test accuracy can be trusted, in words."""
    text = f"test: {'manual labels' if labels == 'manual' else 'query labels (noisy)'}, {images} images"
    if smallest < 20:
        text += f"; fewer than 20 per class ({smallest}): noise"
    return text


def labelled_in_round(ws: Workspace, k: int) -> bool:
    """Round k's labelling step is one transaction: any image judged in round k means it ran."""
    with ws.catalog() as catalog:
        return catalog.one("SELECT 1 FROM images WHERE round = ? AND label_source IN ('pseudo', 'candidate', 'none', 'query')"
                           " LIMIT 1", (k,)) is not None


def remaining_per_class(ws: Workspace, target: int) -> dict[str, int]:
    """How many more labelled images each class needs to reach `target` (pseudo-labels accepted
    but not curated yet count as had; a clean `--test` set does not count)."""
    with ws.catalog() as catalog:
        have = {r["class"]: r["n"] for r in catalog.all(
            "SELECT class, COUNT(*) AS n FROM images WHERE ((status = 'accepted') OR (status = 'stored' AND"
            " label_source = 'pseudo')) AND NOT (split = 'test' AND label_source = 'manual') GROUP BY class")}
    return {name: max(0, target - have.get(name, 0)) for name in ws.config().class_names}


def label_counts(ws: Workspace) -> dict[str, dict[str, int]]:
    with ws.catalog() as catalog:
        return accepted_per_class_and_source(catalog)
