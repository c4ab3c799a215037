"""The self-training rules measured on frozen EfficientNet-Lite0 features, without a crawl.

On ../shared/data/flowers: each class is split into a clean hold-out (the last HOLDOUT photos by
name) and a served part. A simulated crawl of N images per class takes `offclass` of them from
other classes (query label = the class crawled for). For several seeds it measures:
- round-0 cleaning: which rule catches the off-class images (recall) without discarding good ones
  (precision): confident learning's (own score below the class's self-confidence and another
  class above its own), and Harvest's stricter variant (own score below half of it), each with
  a logistic regression at C 1 and C 0.1 for the out-of-sample scores;
- acceptance: pseudo-label precision and yield of the agreement rule with a global floor only,
  and with per-class thresholds, on the next crawl;
- hold-out accuracy of a head trained on the raw crawl, on the cleaned crawl, and on true labels.
Heads are scikit-learn logistic regressions on the cached features, as in the embedding-cache
path of `train`.

Run: .venv/bin/python -m bench.selftrain_rules [--size 224] [--seeds 5] [--per-class 40]
Writes bench/results/selftrain_rules.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FLOWERS = ROOT.parent / "shared" / "data" / "flowers"
CACHE = ROOT / "bench" / ".cache" / "selftrain-rules"
RESULTS = ROOT / "bench" / "results" / "selftrain_rules.json"


def flower_features(size: int) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Plain features, labels, class names and file names of every shared flower photo."""
    from training.features import FeatureSpec, cached_features
    from training.models import ModelSpec, build_model, weights_fingerprint
    from training.preprocess import InputSpec
    from training.scoring import extractor_of
    from workspace.layout import init_workspace

    classes = sorted(p.name for p in FLOWERS.iterdir() if p.is_dir())
    files = [(c, p) for c in classes for p in sorted((FLOWERS / c).glob("*.jpg"))]
    ws = init_workspace(CACHE, classes).workspace
    spec = ModelSpec("efficientnet-lite0", len(classes), size, 3, "imagenet", False)
    model = build_model(spec)
    from workspace.storage import sha256_file

    feature_spec = FeatureSpec("efficientnet-lite0", weights_fingerprint(spec) or "", InputSpec(size), 1280)
    found = cached_features(ws, feature_spec, [(sha256_file(p), p) for _, p in files], extractor_of(model))
    labels = np.array([classes.index(c) for c, _ in files])
    return found.plain, labels, classes, [p.name for _, p in files]


def simulate_crawl(labels: np.ndarray, pool: np.ndarray, per_class: int, offclass: float, classes: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(rows, query labels): per class, per_class images of which `offclass` come from other classes."""
    rows, query = [], []
    for k in range(classes):
        own = rng.permutation(pool[labels[pool] == k])
        others = rng.permutation(pool[labels[pool] != k])
        n_off = int(round(per_class * offclass))
        rows += list(own[:per_class - n_off]) + list(others[:n_off])
        query += [k] * per_class
    return np.array(rows), np.array(query)


def fit(x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000).fit(x, y)


def cleaning_rules(probs: np.ndarray, query: np.ndarray) -> dict[str, np.ndarray]:
    from selftrain.cleaning import find_off_class

    return {"confident-learning": find_off_class(probs, query, own_factor=1.0).held_back,
            "cl, own < half": find_off_class(probs, query).held_back}


def one_seed(x: np.ndarray, labels: np.ndarray, holdout: np.ndarray, served: np.ndarray, args, seed: int) -> dict:
    from training.crossval import oof_from_features
    from training.pseudo_label import PoolImage, class_thresholds, decide_labels

    rng = np.random.default_rng(seed)
    classes = int(labels.max()) + 1
    rows, query = simulate_crawl(labels, served, args.per_class, args.offclass, classes, rng)
    truth = labels[rows]
    off = truth != query
    score = lambda model: float((model.predict(x[holdout]) == labels[holdout]).mean())  # noqa: E731
    out: dict = {"off_class": int(off.sum()), "accuracy": {"raw": score(fit(x[rows], query)),
                                                           "oracle": score(fit(x[rows], truth))}}
    for c in (1.0, 0.1):
        probs = oof_from_features(x[rows], query, classes, seed=seed, c=c)
        for name, held in cleaning_rules(probs, query).items():
            key = f"{name}, C {c}"
            out[key] = {"held_back": int(held.sum()), "recall": float((held & off).sum() / max(1, off.sum())),
                        "precision": float((held & off).sum() / max(1, held.sum()))}
            out["accuracy"][f"cleaned by {key}"] = score(fit(x[rows][~held], query[~held]))
    kept = ~cleaning_rules(oof_from_features(x[rows], query, classes, seed=seed), query)["cl, own < half"]
    teacher = fit(x[rows][kept], query[kept])
    rest = np.setdiff1d(served, rows)
    cand_rows, cand_query = simulate_crawl(labels, rest, args.per_class * 2, args.offclass, classes, rng)
    cand_probs = teacher.predict_proba(x[cand_rows])
    own_probs = oof_from_features(x[rows][kept], query[kept], classes, seed=seed)
    per_class = class_thresholds(own_probs, query[kept], [str(k) for k in range(classes)])
    items = [PoolImage(str(i), "", str(q)) for i, q in enumerate(cand_query)]
    for name, thresholds in (("floor only", {}), ("per-class", per_class)):
        decisions = decide_labels(items, cand_probs, [str(k) for k in range(classes)], "agree", args.threshold,
                                  per_class=thresholds, balance=1.5)
        accepted = [int(d.image_id) for d in decisions if d.accepted]
        correct = sum(labels[cand_rows[i]] == cand_query[i] for i in accepted)
        out[f"accept {name}"] = {"accepted": len(accepted), "precision": correct / max(1, len(accepted)),
                                 "of_true_candidates": correct / max(1, int((labels[cand_rows] == cand_query).sum()))}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--offclass", type=float, default=0.3)
    parser.add_argument("--holdout", type=int, default=50)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    if not FLOWERS.is_dir():
        print(f"skipped: the shared photos are not at {FLOWERS}")
        return 0
    started = time.monotonic()
    x, labels, classes, names = flower_features(args.size)
    index = np.arange(len(labels))
    holdout = np.concatenate([index[labels == k][-args.holdout:] for k in range(len(classes))])
    served = np.setdiff1d(index, holdout)
    seeds = [one_seed(x, labels, holdout, served, args, seed) for seed in range(args.seeds)]
    result = {"args": vars(args), "seeds": seeds, "seconds": round(time.monotonic() - started),
              "load_average": os.getloadavg()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_table(seeds, args)
    return 0


def print_table(seeds: list[dict], args) -> None:
    mean = lambda key, sub: np.mean([s[key][sub] for s in seeds])  # noqa: E731
    print(f"flowers, frozen efficientnet-lite0 features at {args.size}px, {args.per_class} per class, "
          f"{args.offclass:.0%} off-class, {len(seeds)} seeds (means); hold-out {args.holdout} per class")
    rules = [k for k in seeds[0] if k.startswith(("confident-learning", "cl, own"))]
    for rule in rules:
        print(f"cleaning {rule:<30} recall {mean(rule, 'recall'):.2f}  precision {mean(rule, 'precision'):.2f}  "
              f"held back {mean(rule, 'held_back'):.1f} of {np.mean([s['off_class'] for s in seeds]):.1f} off-class")
    for arm in seeds[0]["accuracy"]:
        print(f"hold-out accuracy, head on {arm:<38} {mean('accuracy', arm):.3f}")
    for name in ("floor only", "per-class"):
        key = f"accept {name}"
        print(f"acceptance {name:<11} accepted {mean(key, 'accepted'):.1f}  precision {mean(key, 'precision'):.3f}"
              f"  share of true candidates {mean(key, 'of_true_candidates'):.2f}")


if __name__ == "__main__":
    sys.exit(main())
