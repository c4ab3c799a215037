"""The self-training loop: an outer loop over rounds, each resumable, each in DIR/rounds/<k>/.

Round 0 gathers schedule[0] labelled images per class (crawl or imports), curates (the test split
is created here and then frozen), trains the teacher and evaluates it. Round k gathers candidates
(crawled as `candidate`, or an unlabelled pool), curates them against everything stored, lets the
teacher pseudo-label them up to schedule[k] per class, trains a fresh student on the grown train
split and evaluates it on the same test split. It stops when the schedule is done, a round
accepts nothing, or validation accuracy has not improved for `patience` rounds.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from training.errors import TrainingError
from training.pseudo_label import MODES, pseudo_label
from workspace.catalog import Catalog, utc_now
from workspace.layout import Workspace

log = logging.getLogger(__name__)

Notify = Callable[[str], None]


@dataclass(frozen=True)
class SelfTrainConfig:
    schedule: tuple[int, ...] = (100, 600, 1000)
    threshold: float = 0.9
    mode: str = "agree"
    pool: Path | None = None
    engine: str | None = None
    base_url: str | None = None
    allow_private: bool = False
    model: str = "small-cnn"
    image_size: int = 128
    epochs: int = 20
    batch_size: int = 32
    train_patience: int = 5
    patience: int = 1
    max_rounds: int | None = None
    candidate_factor: float = 2.0
    curate_size: int | None = None
    seed: int = 1337
    workers: int = 8

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


@dataclass(frozen=True)
class SelfTrainSummary:
    rounds: list[RoundResult] = field(default_factory=list)
    stopped_because: str = ""


def self_train(ws: Workspace, config: SelfTrainConfig, notify: Notify | None = None) -> SelfTrainSummary:
    notify = notify or (lambda message: log.info(message))
    results = load_rounds(ws)
    best_val, stale = -1.0, 0
    for r in results:
        if r.val_accuracy > best_val + 1e-9:
            best_val, stale = r.val_accuracy, 0
        else:
            stale += 1
    last_round = len(config.schedule) - 1
    if config.max_rounds is not None:
        last_round = min(last_round, config.max_rounds - 1)
    reason = "schedule done" if last_round == len(config.schedule) - 1 else f"--max-rounds {config.max_rounds} reached"
    for k in range(len(results), last_round + 1):
        if stale >= config.patience and k > 1:
            reason = f"validation accuracy did not improve for {config.patience} round(s)"
            break
        notify(f"round {k}: target {config.schedule[k]} images per class")
        result = run_round(ws, config, k, notify)
        results.append(result)
        if k > 0 and result.accepted == 0:
            reason = "the round accepted nothing new"
            break
        if result.val_accuracy > best_val + 1e-9:
            best_val, stale = result.val_accuracy, 0
        else:
            stale += 1
    return SelfTrainSummary(results, reason)


def load_rounds(ws: Workspace) -> list[RoundResult]:
    """Finished rounds, in order (a round still `running` is redone from its idempotent steps)."""
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT * FROM rounds WHERE state = 'done' ORDER BY round")
    results = []
    for expected, row in enumerate(rows):
        if row["round"] != expected:
            break
        details = json.loads(row["details"] or "{}")
        results.append(RoundResult(row["round"], row["run_id"], details.get("per_class", {}), row["accepted"] or 0,
                                   row["candidates"] or 0, row["val_accuracy"] or 0.0, row["test_accuracy"] or 0.0,
                                   row["pseudo_precision"]))
    return results


def run_round(ws: Workspace, config: SelfTrainConfig, k: int, notify: Notify) -> RoundResult:
    from curation.pipeline import CurateConfig, curate

    target = config.schedule[k]
    round_dir = ws.rounds_dir / str(k)
    round_dir.mkdir(parents=True, exist_ok=True)
    with ws.catalog() as catalog:
        catalog.execute("INSERT INTO rounds (round, state, target, started_at) VALUES (?, 'running', ?, ?)"
                        " ON CONFLICT(round) DO UPDATE SET state = 'running'", (k, target, utc_now()))
    ws_config = ws.config()
    curate_config = CurateConfig(size=config.curate_size or ws_config.image_size, split=ws_config.split,
                                 seed=ws_config.seed)
    truth = fetch_truth(config)
    candidates, accepted, precision = 0, 0, None
    if k == 0:
        gather_labelled(ws, config, target, notify)
        if config.pool is not None:
            from workspace.importer import import_unlabelled

            import_unlabelled(ws, config.pool)
        curate(ws, curate_config)
    else:
        gather_candidates(ws, config, target, notify)
        curate(ws, curate_config)
        teacher = f"round-{k - 1}"
        caps = remaining_per_class(ws, target)
        notify(f"round {k}: pseudo-labelling with {teacher} (threshold {config.threshold}, mode {config.mode})")
        summary = pseudo_label(ws, teacher, config.threshold, config.mode, k, caps, truth, round_dir)
        candidates, accepted, precision = summary.candidates, summary.accepted, summary.precision
        curate(ws, curate_config)
        write_audit_sheet(ws, round_dir / "decisions.csv", round_dir / "audit.png")
    run_id = f"round-{k}"
    val_accuracy = train_round(ws, config, k, run_id, notify)
    from training.evaluate import evaluate

    test = evaluate(ws, run_id)
    per_class = label_counts(ws)
    result = RoundResult(k, run_id, per_class, accepted, candidates, val_accuracy, test.accuracy, precision)
    (round_dir / "metrics.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    with ws.catalog() as catalog:
        catalog.execute(
            "UPDATE rounds SET state='done', run_id=?, candidates=?, accepted=?, val_accuracy=?, test_accuracy=?,"
            " pseudo_precision=?, details=?, ended_at=? WHERE round=?",
            (run_id, candidates, accepted, val_accuracy, test.accuracy, precision,
             json.dumps({"per_class": per_class}), utc_now(), k))
    notify(f"round {k}: test accuracy {test.accuracy:.3f}, accepted {accepted}"
           + (f", pseudo-label precision {precision:.3f}" if precision is not None else ""))
    return result


def gather_labelled(ws: Workspace, config: SelfTrainConfig, target: int, notify: Notify) -> None:
    """Round 0: crawl (query labels) until each class has `target` valid images."""
    if config.engine is None:
        return
    notify(f"round 0: crawling {config.engine} for {target} labelled images per class")
    crawl_classes(ws, config, {name: target for name in ws.config().class_names}, "query")


def gather_candidates(ws: Workspace, config: SelfTrainConfig, target: int, notify: Notify) -> None:
    """Round k: crawl more images as unjudged candidates, enough to fill the round's target."""
    if config.engine is None:
        return
    with ws.catalog() as catalog:
        wanted = {}
        for name, missing in remaining_per_class(ws, target).items():
            have = _count(catalog, name, ("stored", "accepted", "unlabelled"))
            wanted[name] = have + math.ceil(missing * config.candidate_factor) if missing > 0 else have
    notify(f"round: crawling candidates ({', '.join(f'{n} {w}' for n, w in wanted.items())})")
    crawl_classes(ws, config, wanted, "candidate")


def crawl_classes(ws: Workspace, config: SelfTrainConfig, per_class: dict[str, int], label_source: str) -> None:
    from crawler.crawl import CrawlConfig, crawl
    from crawler.http import HttpPolicy

    for name, count in per_class.items():
        if count < 1:
            continue
        crawl(ws, CrawlConfig(engine=config.engine, per_class=count, base_url=config.base_url, classes=(name,),
                              label_source=label_source, workers=config.workers,
                              http=HttpPolicy(allow_private=config.allow_private)))


def _count(catalog: Catalog, name: str, statuses: tuple[str, ...]) -> int:
    marks = ",".join("?" * len(statuses))
    return int(catalog.scalar(f"SELECT COUNT(*) FROM images WHERE class = ? AND status IN ({marks})",
                              (name, *statuses)))


def remaining_per_class(ws: Workspace, target: int) -> dict[str, int]:
    """How many more accepted images each class needs to reach `target`."""
    with ws.catalog() as catalog:
        return {name: max(0, target - _count(catalog, name, ("accepted",))) for name in ws.config().class_names}


def train_round(ws: Workspace, config: SelfTrainConfig, k: int, run_id: str, notify: Notify) -> float:
    """A fresh model (re-initialised, augmentation on) for the round; reused if already trained."""
    from training.train import TrainConfig, train

    run_dir = ws.models_dir / run_id
    metrics = run_dir / "metrics.json"
    if (run_dir / "model.keras").is_file() and metrics.is_file():
        return float(json.loads(metrics.read_text()).get("val_accuracy", 0.0))
    notify(f"round {k}: training {config.model} ({run_id})")
    result = train(ws, TrainConfig(model=config.model, image_size=config.image_size, epochs=config.epochs,
                                   batch_size=config.batch_size, patience=config.train_patience,
                                   seed=config.seed + k, round=k, run_id=run_id))
    return result.val_accuracy


def label_counts(ws: Workspace) -> dict[str, dict[str, int]]:
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT class, label_source, COUNT(*) AS n FROM images WHERE status='accepted'"
                           " GROUP BY class, label_source")
    table: dict[str, dict[str, int]] = {}
    for r in rows:
        table.setdefault(r["class"], {})[r["label_source"]] = r["n"]
    return table


def fetch_truth(config: SelfTrainConfig) -> dict[str, str]:
    """The replica site's truth map (URL → true class), when crawling one; {} elsewhere."""
    if not config.base_url:
        return {}
    try:
        response = requests.get(config.base_url.rstrip("/") + "/__replica/truth.json", timeout=5)
        if response.status_code != 200:
            return {}
        data = response.json()
    except (requests.RequestException, ValueError):
        return {}
    return {url: info.get("class") for url, info in data.items() if isinstance(info, dict) and info.get("class")}


def write_audit_sheet(ws: Workspace, decisions_csv: Path, out: Path, per_row: int = 8, thumb: int = 64) -> None:
    """A contact sheet per class: accepted (green) and rejected (red) candidates, most confident first."""
    import csv

    from PIL import Image, ImageDraw

    if not decisions_csv.exists():
        return
    with open(decisions_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    classes = sorted({r["predicted"] for r in rows if r["predicted"]})
    if not classes:
        return
    sheet = Image.new("RGB", (per_row * 2 * (thumb + 4) + 120, len(classes) * (thumb + 8) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for line, name in enumerate(classes):
        y = 4 + line * (thumb + 8)
        draw.text((4, y + thumb // 2), name[:16], fill="black")
        for side, accepted in enumerate(("1", "0")):
            picks = sorted((r for r in rows if r["predicted"] == name and r["accepted"] == accepted),
                           key=lambda r: -float(r["confidence"]))[:per_row]
            for i, r in enumerate(picks):
                x = 120 + (side * per_row + i) * (thumb + 4)
                try:
                    with Image.open(ws.root / r["path"]) as image:
                        image = image.convert("RGB")
                        image.thumbnail((thumb, thumb))
                        sheet.paste(image, (x, y))
                except OSError:
                    continue
                draw.rectangle((x, y, x + thumb - 1, y + thumb - 1), outline="green" if accepted == "1" else "red",
                               width=2)
    sheet.save(out)
