"""The stages the loop calls, each a thin adapter over its own package: crawl (crawler), curate
(curation), clean / train / evaluate (training). Every step is idempotent, so a killed round is
continued by running the same command."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path

from selftrain.cleaning import CleaningSummary, clean_query_labels
from workspace.images import ImageStatus, LabelSource, count_per_class, return_for_curation
from workspace.layout import Workspace

Notify = Callable[[str], None]


def gather_labelled(ws: Workspace, config, target: int, notify: Notify) -> None:
    """Round 0: crawl (query labels) until each class has `target` valid images; a pool too."""
    if config.engine is not None:
        notify(f"round 0: crawling {config.engine} for {target} labelled images per class")
        pinned = clean_test_counts(ws)  # the crawl counts every image of a class; these are not crawled
        crawl_classes(ws, config, {name: target + pinned.get(name, 0) for name in ws.config().class_names}, "query")
    if config.pool is not None:
        from workspace.importer import import_unlabelled

        import_unlabelled(ws, config.pool)


def clean_test_counts(ws: Workspace) -> dict[str, int]:
    """Per class, the images of a clean `--test` set (manual labels pinned to test)."""
    with ws.catalog() as catalog:
        return {r["class"]: r["n"] for r in catalog.all(
            "SELECT class, COUNT(*) AS n FROM images WHERE split = 'test' AND label_source = 'manual'"
            " AND status IN ('stored', 'accepted') GROUP BY class")}


def gather_candidates(ws: Workspace, config, missing: dict[str, int], notify: Notify) -> None:
    """Round k: crawl more images as unjudged candidates, `candidate_factor` x what is missing."""
    if config.engine is None:
        return
    with ws.catalog() as catalog:
        have = count_per_class(catalog, (ImageStatus.STORED, ImageStatus.ACCEPTED, ImageStatus.UNLABELLED))
    wanted = wanted_candidates(have, missing, config.candidate_factor)
    notify(f"round: crawling candidates ({', '.join(f'{n} {w}' for n, w in wanted.items())})")
    crawl_classes(ws, config, wanted, LabelSource.CANDIDATE)


def wanted_candidates(have: dict[str, int], missing: dict[str, int], factor: float) -> dict[str, int]:
    """Per class, how many stored images a crawl should reach to offer `factor` x what is missing."""
    return {name: have.get(name, 0) + math.ceil(m * factor) if m > 0 else have.get(name, 0)
            for name, m in missing.items()}


def crawl_classes(ws: Workspace, config, per_class: dict[str, int], label_source: str) -> None:
    from crawler.crawl import CrawlConfig, crawl
    from crawler.http import HttpPolicy

    http = HttpPolicy(allow_private=config.allow_private, max_pixels=ws.config().max_pixels)
    for name, count in per_class.items():
        if count < 1:
            continue
        crawl(ws, CrawlConfig(engine=config.engine, per_class=count, base_url=config.base_url, classes=(name,),
                              label_source=label_source, workers=config.workers, http=http))


def curate_workspace(ws: Workspace, config) -> None:
    from curation.pipeline import CurateConfig, curate

    ws_config = ws.config()
    curate(ws, CurateConfig(size=config.curate_size or ws_config.image_size, split=ws_config.split,
                            seed=ws_config.seed, max_pixels=ws_config.max_pixels))


def train_config(config, k: int, run_id: str):
    from training.train import TrainConfig

    return TrainConfig(model=config.model, image_size=config.image_size, epochs=config.epochs,
                       batch_size=config.batch_size, patience=config.train_patience, seed=config.seed + k,
                       round=k, run_id=run_id)


def clean_round_zero(ws: Workspace, config, round_dir: Path, notify: Notify) -> CleaningSummary:
    """Cross-validated scores for the query-labelled train/val images, then the off-class rule."""
    from training.crossval import out_of_sample
    from training.features import frozen_feature_spec
    from training.models import ModelSpec, build_model
    from training.preprocess import InputSpec
    from training.scoring import extractor_of

    settings = train_config(config, 0, "clean")
    class_names = ws.config().class_names
    spec = ModelSpec(settings.model, len(class_names), settings.image_size, 3, settings.weights, False)
    input_spec = InputSpec(settings.image_size)
    feature_spec, extractor = None, None
    if settings.frozen_features:
        model = build_model(spec, seed=settings.seed)
        extractor = extractor_of(model)
        feature_spec = frozen_feature_spec(spec, model, input_spec)

    def scorer(images, progress):
        return out_of_sample(ws, images, len(class_names), feature_spec, extractor, input_spec,
                             max(4, settings.epochs // 2), settings.batch_size, settings.seed, progress)

    summary = clean_query_labels(ws, class_names, scorer, round_dir / "cleaning.csv")
    if summary.skipped:
        notify(f"round 0: label cleaning skipped: {summary.skipped}")
    elif not summary.already_done:
        held = ", ".join(f"{k} {v}" for k, v in sorted(summary.held_back.items())) or "none"
        notify(f"round 0: checked {summary.checked} query labels by cross-validation; held back as likely "
               f"off-class: {held}")
        curate_workspace(ws, config)
    return summary


def train_round(ws: Workspace, config, k: int, run_id: str, notify: Notify) -> float:
    """A fresh model (re-initialised, noised by augmentation and dropout); reused if trained."""
    from training.train import train

    run_dir = ws.models_dir / run_id
    metrics = run_dir / "metrics.json"
    if (run_dir / "model.keras").is_file() and metrics.is_file():
        return float(json.loads(metrics.read_text()).get("val_accuracy", 0.0))
    notify(f"round {k}: training {config.model} ({run_id})")
    return train(ws, train_config(config, k, run_id)).val_accuracy


def evaluate_round(ws: Workspace, run_id: str):
    from training.evaluate import evaluate

    return evaluate(ws, run_id)


def teacher_accuracy(ws: Workspace, run_id: str) -> float:
    metrics = ws.models_dir / run_id / "metrics.json"
    return float(json.loads(metrics.read_text()).get("val_accuracy", 0.0)) if metrics.is_file() else 0.0


def accept_query_labels(ws: Workspace, caps: dict[str, int], k: int, truth: dict[str, str],
                        out: Path) -> tuple[int, int, float | None]:
    """Without a teacher that can judge, a round takes candidates by their query class, in crawl
    order, up to what each class needs: the raw crawl's rule, so the loop is never worse than it.
    Every candidate's decision goes to `out` (decisions.csv). Returns (candidates, taken,
    precision against `truth`); the catalog change is one transaction."""
    from training.pseudo_label import LabelDecision, precision_of, write_decisions

    decisions = []
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT id, path, class, source FROM images WHERE status = ? AND"
                           " label_source = ? AND class IS NOT NULL ORDER BY added_at, id",
                           (ImageStatus.UNLABELLED, LabelSource.CANDIDATE))
    room = dict(caps)
    for r in rows:
        take = room.get(r["class"], 0) > 0
        room[r["class"]] = room.get(r["class"], 0) - int(take)
        decisions.append(LabelDecision(r["id"], r["path"], r["class"], r["class"], 0.0, take,
                                       None if take else "over_cap", truth.get(r["source"])))
    write_decisions(decisions, out)
    with ws.catalog() as catalog, catalog.transaction() as conn:
        return_for_curation(conn, [(d.image_id, d.query_class, None, k) for d in decisions if d.accepted],
                            LabelSource.QUERY)
    return len(rows), sum(d.accepted for d in decisions), precision_of(decisions)


def recorded_labelling(ws: Workspace, k: int, truth: dict[str, str]) -> tuple[int, int, float | None]:
    """(candidates, accepted, precision) of a labelling step that already ran (resume)."""
    path = ws.rounds_dir / str(k) / "decisions.csv"
    if not path.exists():
        return 0, 0, None
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    accepted = [r for r in rows if r["accepted"] == "1"]
    known = [r for r in accepted if r.get("true_class")]
    precision = sum(r["predicted"] == r["true_class"] for r in known) / len(known) if known else None
    return len(rows), len(accepted), precision


def raw_images(ws: Workspace, class_names: list[str], budget: dict[str, int]):
    """The raw crawl: images with a crawl class hint (query labels, candidates, pseudo-labels and
    every rejection of the teacher or the cleaner), outside val/test, in crawl order, up to
    `budget` per class, labelled with the class they were crawled for."""
    from training.data import LabelledImage

    index = {name: i for i, name in enumerate(class_names)}
    with ws.catalog() as catalog:
        rows = catalog.all(
            "SELECT id, sha256, path, class, source FROM images WHERE path IS NOT NULL AND class IS NOT NULL"
            " AND label_source IN ('query', 'candidate', 'pseudo') AND (split IS NULL OR split = 'train') AND"
            " (status IN ('accepted', 'unlabelled', 'stored') OR (status = 'rejected' AND reason IN ("
            " 'likely_off_class', 'low_confidence', 'below_class_threshold', 'disagrees_with_query', 'over_cap',"
            " 'balance_cap'))) ORDER BY added_at, id")
    taken: dict[str, int] = {}
    chosen, sources = [], []
    for r in rows:
        if r["class"] in index and taken.get(r["class"], 0) < budget.get(r["class"], 0):
            taken[r["class"]] = taken.get(r["class"], 0) + 1
            chosen.append(LabelledImage(r["id"], r["sha256"], ws.root / r["path"], index[r["class"]], "train"))
            sources.append(r["source"])
    return chosen, sources, taken


def raw_baseline(ws: Workspace, config, truth: dict[str, str], notify: Notify):
    """Train the same model on the raw crawl with the self-trained run's per-class train budget."""
    from selftrain.loop import Baseline
    from training.data import split_images
    from training.evaluate import evaluate
    from training.train import train

    class_names = ws.config().class_names
    trained = split_images(ws, class_names, "train")
    budget = {name: sum(1 for i in trained if i.label == k) for k, name in enumerate(class_names)}
    images, sources, taken = raw_images(ws, class_names, budget)
    run_id = "raw-crawl"
    if not (ws.models_dir / run_id / "model.keras").is_file():
        notify(f"raw crawl, same budget: training {config.model} on {len(images)} query-labelled images")
        train(ws, train_config(config, 0, run_id), data=(images, split_images(ws, class_names, "val")))
    result = evaluate(ws, run_id)
    labels = [truth.get(s) for s in sources]
    known = [(class_names[i.label], t) for i, t in zip(images, labels) if t]
    precision = sum(a == b for a, b in known) / len(known) if known else None
    return Baseline(run_id, taken, result.accuracy, precision)


def write_audit_sheet(ws: Workspace, decisions_csv: Path, out: Path, per_row: int = 8, thumb: int = 64) -> None:
    """A contact sheet per class: accepted (green) and rejected (red) candidates, most confident first."""
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

