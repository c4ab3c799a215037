"""Transfer learning offline: small-cnn from scratch against frozen EfficientNet-Lite0.

On ../shared/data/flowers: the first TRAIN photos per class by name are imported into a workspace
(curated 80/20 into train/val), every other photo is the test set. Each model is trained with the
real `train` stage and scored on the test photos through the run's own input path. Reported:
test accuracy, training wall time, and images/s for feature extraction and for prediction.

Run: .venv/bin/python -m bench.transfer [--train 100] [--lite-size 224] [--cnn-size 128] [--fine-tune]
Writes bench/results/transfer.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FLOWERS = ROOT.parent / "shared" / "data" / "flowers"
RESULTS = ROOT / "bench" / "results" / "transfer.json"


def build_workspace(base: Path, per_class: int) -> tuple[Path, list[tuple[Path, int]], list[str]]:
    from curation.pipeline import CurateConfig, curate
    from workspace.importer import import_labelled
    from workspace.layout import init_workspace

    classes = sorted(p.name for p in FLOWERS.iterdir() if p.is_dir())
    train_dir, test = base / "train-photos", []
    for k, name in enumerate(classes):
        files = sorted((FLOWERS / name).glob("*.jpg"))
        (train_dir / name).mkdir(parents=True)
        for path in files[:per_class]:
            shutil.copy(path, train_dir / name / path.name)
        test += [(path, k) for path in files[per_class:]]
    ws = init_workspace(base / "ws", classes, split=(0.8, 0.2, 0.0)).workspace
    import_labelled(ws, train_dir)
    curate(ws, CurateConfig(size=224, split=(0.8, 0.2, 0.0)))
    return ws.root, test, classes


def run_arm(root: Path, test: list[tuple[Path, int]], name: str, config) -> dict:
    from training.predict import load_bundle
    from training.scoring import score_files
    from training.train import train
    from workspace.layout import open_workspace

    ws = open_workspace(root)
    started = time.monotonic()
    result = train(ws, config)
    train_seconds = time.monotonic() - started
    bundle = load_bundle(result.run_dir)
    started = time.monotonic()
    probs, errors = score_files(bundle, [p for p, _ in test])
    predict_seconds = time.monotonic() - started
    keep = [i for i in range(len(test)) if i not in errors]
    accuracy = float((probs[keep].argmax(axis=1) == np.array([test[i][1] for i in keep])).mean())
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    return {"arm": name, "test_accuracy": accuracy, "test_images": len(keep), "train_images": result.train_images,
            "train_seconds": round(train_seconds, 1), "epochs": result.epochs_run,
            "predict_images_per_second": round(len(keep) / predict_seconds, 1),
            "feature_images_per_second": metrics.get("feature_images_per_second")}


def main(argv: list[str] | None = None) -> int:
    from training.train import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100, help="photos per class to train on (80/20 train/val)")
    parser.add_argument("--lite-size", type=int, default=224)
    parser.add_argument("--cnn-size", type=int, default=128)
    parser.add_argument("--cnn-epochs", type=int, default=30)
    parser.add_argument("--fine-tune", action="store_true", help="also fine-tune Lite0's top (slow on a CPU)")
    args = parser.parse_args(argv)
    if not FLOWERS.is_dir():
        print(f"skipped: the shared photos are not at {FLOWERS}")
        return 0
    base = Path(tempfile.mkdtemp(prefix="harvest-transfer-"))
    try:
        root, test, classes = build_workspace(base, args.train)
        arms = [("efficientnet-lite0 frozen", TrainConfig(image_size=args.lite_size, epochs=100, patience=15,
                                                          run_id="lite0")),
                ("small-cnn", TrainConfig(model="small-cnn", image_size=args.cnn_size, epochs=args.cnn_epochs,
                                          patience=8, run_id="cnn"))]
        if args.fine_tune:
            arms.append(("efficientnet-lite0 fine-tuned", TrainConfig(
                image_size=args.lite_size, epochs=5, fine_tune=True, fine_tune_epochs=5, run_id="lite0-ft")))
        rows = []
        for name, config in arms:
            rows.append(run_arm(root, test, name, config))
            print(f"{name}: {rows[-1]}", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result = {"train_per_class": args.train, "classes": classes, "rows": rows, "load_average": os.getloadavg()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'model':<32}{'test acc':>9}{'test imgs':>10}{'train s':>9}{'feat img/s':>11}{'pred img/s':>11}")
    for r in rows:
        feat = "-" if r["feature_images_per_second"] is None else f"{r['feature_images_per_second']:.1f}"
        print(f"{r['arm']:<32}{r['test_accuracy']:>9.3f}{r['test_images']:>10}{r['train_seconds']:>9.0f}"
              f"{feat:>11}{r['predict_images_per_second']:>11.1f}")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
