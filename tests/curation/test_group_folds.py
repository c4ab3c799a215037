"""curation.group_folds gives scikit-learn's StratifiedGroupKFold folds exactly (same seed, same
folds), including its tie-breaks, on random labels and groups."""

from __future__ import annotations

import time
import warnings
from collections import Counter

import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from curation.group_folds import stratified_group_folds


def sklearn_folds(labels: list[str], groups: list[str], folds: int, seed: int) -> np.ndarray:
    out = np.full(len(labels), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
            out[test] = fold
    return out


@pytest.mark.parametrize("case", range(60))
def test_same_folds_as_scikit_learn(case: int) -> None:
    rng = np.random.default_rng(case)
    n = int(rng.integers(5, 300))
    labels = [f"c{k}" for k in rng.integers(0, int(rng.integers(1, 13)), n)]
    groups = [f"g{k}" for k in rng.integers(0, int(rng.integers(2, n + 1)), n)]
    folds = min(int(rng.integers(2, 21)), len(set(groups)), max(Counter(labels).values()))
    if folds < 2:
        pytest.skip("no valid fold count for this draw")
    seed = int(rng.integers(0, 100_000))
    np.testing.assert_array_equal(stratified_group_folds(labels, groups, folds, seed),
                                  sklearn_folds(labels, groups, folds, seed))


def test_ties_and_singleton_groups_match() -> None:
    """Many identical groups (every score ties): the smaller-fold rule decides, as in scikit-learn."""
    labels = ["a", "b"] * 50
    groups = [f"g{k}" for k in range(100)]
    np.testing.assert_array_equal(stratified_group_folds(labels, groups, 10, 7), sklearn_folds(labels, groups, 10, 7))


def test_linear_in_groups() -> None:
    """10,000 one-image groups in 10 classes and 10 folds: well under a second per 1,000 groups
    (scikit-learn took ~4.6 ms per group)."""
    rng = np.random.default_rng(3)
    labels = [f"c{k}" for k in rng.integers(0, 10, 10_000)]
    start = time.process_time()
    folds = stratified_group_folds(labels, [str(k) for k in range(10_000)], 10, 1)
    assert time.process_time() - start < 10.0
    assert set(np.bincount(folds)) <= {999, 1000, 1001}
