"""Self-training against a noisy crawl: (a) raw crawl, (b) self-training, (c) oracle labels.

The flowers set (../shared/data/flowers) is split per class: the last HOLDOUT files by name are a clean
test set nobody crawls; the rest is served by the replica search site with `--offclass` of each
result page drawn from other classes. Every arm crawls through real headless Chromium (bing engine)
and is scored on the same clean hold-out (true labels), so the comparison does not depend on the
workspaces' own (query-labelled, hence noisy) test splits.

(a) raw: crawl schedule[-1] images per class, trust the query labels, train once (same model).
(b) self-train: `self-train` with the schedule (round 0 query-labelled and cleaned by
    cross-validation, later rounds pseudo-labelled by the per-class, balanced rule).
(c) oracle: the raw crawl of (a) relabelled with the replica's truth, train once.
The round-0 cleaning is scored against the truth too: the share of off-class images it caught
and the precision of what it held back.

Run: .venv/bin/python bench/selftrain_experiment.py [--model efficientnet-lite0] [--schedule 40,120,200]
     [--image-size 224] [--no-clean] [--tag NAME]
Writes bench/results/selftrain_experiment[-TAG].json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FLOWERS = ROOT.parent / "shared" / "data" / "flowers"
RESULTS = ROOT / "bench" / "results" / "selftrain_experiment.json"


def split_source(source: Path, dest: Path, holdout: int, off_pool: float) -> tuple[list[str], list[tuple[Path, int]]]:
    """dest/served (symlinks, on-class results), dest/offclass (the pool off-class results are
    drawn from, a share `off_pool` of each class's photos, none of them ever served on-class) and
    the clean hold-out as (path, class index)."""
    classes = sorted(p.name for p in source.iterdir() if p.is_dir())
    held: list[tuple[Path, int]] = []
    for index, name in enumerate(classes):
        files = sorted((source / name).glob("*.jpg"))
        rest = files[:-holdout]
        cut = len(rest) - round(len(rest) * off_pool)
        for part, chosen in (("served", rest[:cut]), ("offclass", rest[cut:])):
            (dest / part / name).mkdir(parents=True)
            for path in chosen:
                (dest / part / name / path.name).symlink_to(path)
        held += [(path, index) for path in files[-holdout:]]
    return classes, held


def clean_accuracy(ws, run_id: str, held: list[tuple[Path, int]], classes: list[str]) -> float:
    import numpy as np

    from training.predict import load_bundle
    from training.scoring import score_images
    from workspace.storage import sha256_file

    bundle = load_bundle(ws.models_dir / run_id)
    probabilities, _ = score_images(ws, bundle, [(sha256_file(p), p) for p, _ in held])
    names = [bundle.class_names[i] for i in np.argmax(probabilities, axis=1)]
    return float(np.mean([n == classes[c] for n, (_, c) in zip(names, held)]))


def train_label_precision(ws, truth: dict[str, str]) -> float | None:
    """Share of accepted train images whose label is their true class (where the truth is known)."""
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT class, source FROM images WHERE status='accepted' AND split='train'")
    known = [(r["class"], truth[r["source"]]) for r in rows if r["source"] in truth]
    return sum(a == b for a, b in known) / len(known) if known else None


def train_once(ws, args, run_id: str) -> float:
    from training.train import TrainConfig, train

    return train(ws, TrainConfig(model=args.model, image_size=args.image_size, epochs=args.epochs, batch_size=32,
                                 patience=args.patience, run_id=run_id, seed=training_seed(args))).val_accuracy


def training_seed(args) -> int:
    """Harvest's default training seed for the default replica seed; another replica seed moves both."""
    return 1337 + args.seed - 11


def cleaning_scores(ws, truth: dict[str, str]) -> dict:
    """Round-0 cleaning against the truth: recall of off-class images, precision of held-back ones."""
    import csv

    path = ws.rounds_dir / "0" / "cleaning.csv"
    if not path.exists():
        return {}
    with ws.catalog() as catalog:
        source = {r["id"]: r["source"] for r in catalog.all("SELECT id, source FROM images")}
    with open(path, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if truth.get(source.get(r["image_id"], ""))]
    off = [r for r in rows if truth[source[r["image_id"]]] != r["query_class"]]
    held = [r for r in rows if r["held_back"] == "1"]
    caught = [r for r in off if r["held_back"] == "1"]
    return {"checked": len(rows), "off_class": len(off), "held_back": len(held), "caught": len(caught),
            "recall": len(caught) / len(off) if off else None,
            "precision": len(caught) / len(held) if held else None}


def curate_ws(ws, args) -> None:
    from curation.pipeline import CurateConfig, curate

    curate(ws, CurateConfig(size=args.curate_size, split=(0.7, 0.15, 0.15)))


def arm_selftrain(base: Path, site, classes, held, truth, args, log) -> dict:
    from selftrain.loop import SelfTrainConfig, self_train
    from workspace.layout import init_workspace

    ws = init_workspace(base / "selftrain", classes, target=args.schedule[0], image_size=args.curate_size,
                        split=(0.7, 0.15, 0.15)).workspace
    summary = self_train(ws, SelfTrainConfig(
        schedule=tuple(args.schedule), threshold=args.threshold, engine="bing", base_url=site.base_url,
        allow_private=True, model=args.model, image_size=args.image_size, epochs=args.epochs,
        train_patience=args.patience, patience=len(args.schedule), curate_size=args.curate_size, workers=4,
        clean=args.clean, balance=args.balance, seed=training_seed(args), class_thresholds=args.class_thresholds,
        class_quantile=args.class_quantile), notify=log, truth=truth)
    rounds = []
    for r in summary.rounds:
        rounds.append({"round": r.round, "images_per_class": {c: sum(v.values()) for c, v in r.per_class.items()},
                       "pseudo_per_class": {c: v.get("pseudo", 0) for c, v in r.per_class.items()},
                       "candidates": r.candidates, "accepted": r.accepted, "pseudo_precision": r.pseudo_precision,
                       "workspace_test_accuracy": r.test_accuracy,
                       "clean_test_accuracy": clean_accuracy(ws, r.run_id, held, classes)})
        log(f"self-train round {r.round}: clean test accuracy {rounds[-1]['clean_test_accuracy']:.3f}")
    return {"rounds": rounds, "stopped_because": summary.stopped_because,
            "train_label_precision": train_label_precision(ws, truth), "cleaning": cleaning_scores(ws, truth)}


def arms_raw_and_oracle(base: Path, site, classes, held, truth, args, log) -> tuple[dict, dict]:
    from crawler.crawl import CrawlConfig, crawl
    from crawler.http import HttpPolicy
    from workspace.images import reject
    from workspace.layout import init_workspace, open_workspace

    raw = init_workspace(base / "raw", classes, target=args.schedule[-1], image_size=args.curate_size,
                         split=(0.7, 0.15, 0.15)).workspace
    log(f"raw crawl: {args.schedule[-1]} per class")
    crawl(raw, CrawlConfig(engine="bing", per_class=args.schedule[-1], base_url=site.base_url, workers=4,
                           http=HttpPolicy(allow_private=True)))
    shutil.copytree(raw.root, base / "oracle")
    oracle = open_workspace(base / "oracle")
    results = []
    for name, ws in (("raw", raw), ("oracle", oracle)):
        if name == "oracle":
            with ws.catalog() as catalog, catalog.transaction() as conn:
                for row in catalog.all("SELECT id, source FROM images WHERE status = 'stored'"):
                    true = truth.get(row["source"])
                    if true is None:
                        reject(conn, row["id"], "no_truth")
                    else:
                        conn.execute("UPDATE images SET class=?, label_source='manual' WHERE id=?", (true, row["id"]))
        curate_ws(ws, args)
        log(f"{name}: training")
        val = train_once(ws, args, f"{name}-0")
        with ws.catalog() as catalog:
            per_class = {r["class"]: r["n"] for r in catalog.all(
                "SELECT class, COUNT(*) AS n FROM images WHERE status='accepted' GROUP BY class")}
        results.append({"images_per_class": per_class, "val_accuracy": val,
                        "train_label_precision": train_label_precision(ws, truth),
                        "clean_test_accuracy": clean_accuracy(ws, f"{name}-0", held, classes)})
        log(f"{name}: clean test accuracy {results[-1]['clean_test_accuracy']:.3f}")
    return results[0], results[1]


def print_table(result: dict) -> None:
    print(f"\nclean hold-out: {result['holdout_per_class']} per class x {len(result['classes'])} classes; "
          f"off-class share {result['offclass_share']}; schedule {result['schedule']}")
    print(f"{'arm':<14}{'images/class':>14}{'label precision':>17}{'clean test acc':>16}")
    for r in result.get("selftrain", {}).get("rounds", []):
        n = round(sum(r["images_per_class"].values()) / max(1, len(r["images_per_class"])))
        p = "-" if r["pseudo_precision"] is None else f"{r['pseudo_precision']:.3f} (pseudo)"
        print(f"{'self-train r' + str(r['round']):<14}{n:>14}{p:>17}{r['clean_test_accuracy']:>16.3f}")
    cleaning = result.get("selftrain", {}).get("cleaning") or {}
    if cleaning.get("off_class") is not None:
        recall = "-" if cleaning["recall"] is None else f"{cleaning['recall']:.2f}"
        precision = "-" if cleaning["precision"] is None else f"{cleaning['precision']:.2f}"
        print(f"round-0 cleaning: {cleaning['caught']} of {cleaning['off_class']} off-class images caught "
              f"(recall {recall}), {cleaning['held_back']} held back (precision {precision})")
    for arm in ("raw", "oracle"):
        if arm in result:
            r = result[arm]
            n = round(sum(r["images_per_class"].values()) / max(1, len(r["images_per_class"])))
            p = "-" if r["train_label_precision"] is None else f"{r['train_label_precision']:.3f}"
            print(f"{arm:<14}{n:>14}{p:>17}{r['clean_test_accuracy']:>16.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=FLOWERS)
    parser.add_argument("--schedule", type=lambda s: [int(x) for x in s.split(",")], default=[40, 120, 200])
    parser.add_argument("--offclass", type=float, default=0.3)
    parser.add_argument("--holdout", type=int, default=50)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=0, help="0: the model's default")
    parser.add_argument("--curate-size", type=int, default=128)
    parser.add_argument("--balance", type=float, default=1.5)
    parser.add_argument("--no-clean", dest="clean", action="store_false")
    parser.add_argument("--no-class-thresholds", dest="class_thresholds", action="store_false",
                        help="the floor alone, no per-class thresholds")
    parser.add_argument("--class-quantile", type=float, default=None,
                        help="per-class threshold at this quantile of members' confidence (default: the mean)")
    parser.add_argument("--seed", type=int, default=11, help="the replica's seed (which results are off-class); "
                        "the training seeds move with it")
    parser.add_argument("--tag", default="", help="suffix of the results file")
    parser.add_argument("--off-pool", type=float, default=0.3,
                        help="share of each class's photos kept as the off-class pool (0: off-class results are "
                             "other classes' served photos, which dedupe turns into cross-class conflicts)")
    parser.add_argument("--arms", default="selftrain,raw", help="selftrain and/or raw (raw includes the oracle)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the workspaces in this folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from replica import ReplicaConfig, ReplicaSite

    start = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - start:6.0f}s] {message}", flush=True)

    base = args.keep or Path(tempfile.mkdtemp(prefix="harvest-selftrain-"))
    if args.keep and base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    classes, held = split_source(args.source, base / "photos", args.holdout, args.off_pool)
    result: dict = {"classes": classes, "holdout_per_class": args.holdout, "offclass_share": args.offclass,
                    "schedule": args.schedule, "seed": args.seed, "model": args.model, "epochs": args.epochs,
                    "image_size": args.image_size, "threshold": args.threshold, "clean": args.clean,
                    "balance": args.balance, "class_thresholds": args.class_thresholds,
                    "class_quantile": args.class_quantile, "off_pool": args.off_pool, "load_average_start": os.getloadavg()}
    results_path = RESULTS.with_name(f"selftrain_experiment{'-' + args.tag if args.tag else ''}.json")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    try:
        pool = base / "photos" / "offclass" if args.off_pool > 0 else None
        with ReplicaSite(ReplicaConfig(folder=base / "photos" / "served", offclass_folder=pool, per_page=35,
                                       offclass_share=args.offclass, seed=args.seed)) as site:
            truth = {u: i["class"] for u, i in site.truth().items() if i.get("class")}
            if "selftrain" in args.arms:
                result["selftrain"] = arm_selftrain(base, site, classes, held, truth, args, log)
                results_path.write_text(json.dumps(result, indent=2) + "\n")
            if "raw" in args.arms:
                result["raw"], result["oracle"] = arms_raw_and_oracle(base, site, classes, held, truth, args, log)
        result["seconds"] = round(time.monotonic() - start)
        result["load_average_end"] = os.getloadavg()
        results_path.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
