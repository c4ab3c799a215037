"""Class probabilities for images, the same way everywhere.

Files anywhere (`predict`) go through the run's input spec and the whole model. Images the
catalog knows (evaluation, pseudo-labelling) go through the embedding cache when the run's
backbone is frozen, which gives the same numbers as the whole model without recomputing the
backbone; otherwise through the whole model too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from training.preprocess import load_batch
from workspace.progress import Progress


def score_files(bundle, paths: Sequence[Path], batch_size: int = 64) -> tuple[np.ndarray, dict[int, str]]:
    """(n, classes) probabilities (NaN rows for unreadable files) and {row: error}."""
    probs = np.full((len(paths), len(bundle.class_names)), np.nan, dtype=np.float32)
    errors: dict[int, str] = {}
    for start in range(0, len(paths), batch_size):
        arrays, rows, failed = load_batch(list(paths[start:start + batch_size]), bundle.input)
        errors.update({start + r: m for r, m in failed.items()})
        if rows:
            probs[[start + r for r in rows]] = bundle.model.predict(arrays.astype(np.float32), verbose=0)
    return probs, errors


def extractor_of(model) -> Callable[[np.ndarray], np.ndarray]:
    """The model's own frozen "features" sub-model as a batch function."""
    features = model.get_layer("features")

    def extract(arrays: np.ndarray) -> np.ndarray:
        # predict() runs a compiled graph: about 3x faster than calling the model eagerly
        return np.asarray(features.predict(arrays.astype(np.float32), batch_size=32, verbose=0), dtype=np.float32)

    return extract


def score_images(ws, bundle, images: Sequence[tuple[str, Path]],
                 progress: Progress | None = None) -> tuple[np.ndarray, dict[int, str]]:
    """Probabilities for catalog images ((sha256, file) pairs), through the cache when possible."""
    if bundle.features is None:
        return score_files(bundle, [path for _, path in images])
    from training.features import cached_features
    from training.head import head_probabilities

    found = cached_features(ws, bundle.features, images, extractor_of(bundle.model), progress)
    probs = np.full((len(images), len(bundle.class_names)), np.nan, dtype=np.float32)
    ok = [row for row in range(len(images)) if row not in found.errors]
    if ok:
        probs[ok] = head_probabilities(bundle.model, found.plain[ok])
    return probs, found.errors
