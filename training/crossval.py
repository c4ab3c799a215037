"""Out-of-sample probabilities by k-fold cross-validation: every image is scored by a model that
never saw it. Cheap on cached features (a logistic regression per fold); for a model trained
from scratch it trains the same small CNN per fold on pixels."""

from __future__ import annotations

import logging

import numpy as np

from training.data import LabelledImage, pixel_dataset
from training.features import FeatureSpec, cached_features
from training.preprocess import InputSpec, load_batch
from workspace.progress import Progress

log = logging.getLogger(__name__)


def fold_indices(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Stratified folds; fewer folds when a class is too small to fill them."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels)
    present = counts[counts > 0]
    folds = max(2, min(folds, int(present.min()) if len(present) else 2))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(labels)), labels)]


def oof_from_features(features: np.ndarray, labels: np.ndarray, num_classes: int, folds: int = 5,
                      seed: int = 1337, c: float = 0.1) -> np.ndarray:
    """(n, classes) out-of-sample probabilities from a logistic regression per fold. Strong
    regularisation (C 0.1) keeps it from fitting the noisy labels it is meant to judge."""
    from sklearn.linear_model import LogisticRegression

    probs = np.zeros((len(labels), num_classes), dtype=np.float32)
    for test in fold_indices(labels, folds, seed):
        train = np.setdiff1d(np.arange(len(labels)), test)
        model = LogisticRegression(max_iter=2000, C=c)
        model.fit(features[train], labels[train])
        probs[np.ix_(test, model.classes_)] = model.predict_proba(features[test])
    return probs


def oof_from_pixels(arrays: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int, batch_size: int,
                    folds: int = 3, seed: int = 1337) -> np.ndarray:
    """(n, classes) out-of-sample probabilities from a small CNN trained per fold."""
    import keras

    from training.models import ModelSpec, build_model

    probs = np.zeros((len(labels), num_classes), dtype=np.float32)
    for fold, test in enumerate(fold_indices(labels, folds, seed)):
        train = np.setdiff1d(np.arange(len(labels)), test)
        keras.utils.set_random_seed(seed + fold)
        model = build_model(ModelSpec("small-cnn", num_classes, arrays.shape[1], arrays.shape[3]), seed=seed + fold)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        model.fit(pixel_dataset(arrays[train], labels[train], batch_size, shuffle=True, seed=seed), epochs=epochs,
                  verbose=0)
        probs[test] = model.predict(arrays[test].astype(np.float32), verbose=0)
    return probs


def out_of_sample(ws, images: list[LabelledImage], num_classes: int, feature_spec: FeatureSpec | None,
                  extractor, input_spec: InputSpec, epochs: int, batch_size: int, seed: int,
                  progress: Progress | None = None) -> tuple[np.ndarray, list[int]]:
    """Probabilities for the readable `images` and their row numbers."""
    if feature_spec is not None:
        found = cached_features(ws, feature_spec, [(i.sha256, i.path) for i in images], extractor, progress)
        rows = [r for r in range(len(images)) if r not in found.errors]
        labels = np.array([images[r].label for r in rows], dtype=np.int32)
        return oof_from_features(found.plain[rows], labels, num_classes, seed=seed), rows
    arrays, rows, _ = load_batch([i.path for i in images], input_spec)
    labels = np.array([images[r].label for r in rows], dtype=np.int32)
    return oof_from_pixels(arrays, labels, num_classes, epochs, batch_size, seed=seed), rows
