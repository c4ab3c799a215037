"""Stratified group folds: scikit-learn's `StratifiedGroupKFold(shuffle=True)` fold assignment,
the same folds for the same seed, at a cost that stays linear in the number of groups.

scikit-learn places groups one at a time and, for each, scores every fold with a handful of
numpy calls on the whole (folds x classes) table: ~4.6 ms per group, 7 minutes for 100k images
in their own groups. Here each group scores all candidate folds in one batched computation. The
arithmetic is scikit-learn's, operation for operation (the same divisions, the same reductions in
the same order), so the scores and therefore the tie-breaks are the same; a test compares the two
on random inputs.
"""

from __future__ import annotations

import math

import numpy as np


def stratified_group_folds(labels: list[str], groups: list[str], folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of each item, as StratifiedGroupKFold(folds, shuffle=True,
    random_state=seed) would put it in its test set. Needs 2 <= folds <= number of groups."""
    rng = np.random.RandomState(seed)
    _, label_of, class_sizes = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)
    _, group_of, group_sizes = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    per_group = np.zeros((len(group_sizes), len(class_sizes)))
    np.add.at(per_group, (group_of, label_of), 1)
    order = np.arange(len(group_sizes))
    rng.shuffle(order)
    per_group = per_group[order]
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    group_of = position[group_of]
    placed = np.zeros((folds, len(class_sizes)))
    fold_of_group = np.empty(len(group_sizes), dtype=np.int64)
    for group in np.argsort(-np.std(per_group, axis=1), kind="stable"):
        best = _best_fold(placed, class_sizes, per_group[group])
        placed[best] += per_group[group]
        fold_of_group[group] = best
    return fold_of_group[group_of]


def _best_fold(placed: np.ndarray, class_sizes: np.ndarray, counts: np.ndarray) -> int:
    """scikit-learn's `_find_best_fold`: the fold whose class shares, with this group added,
    spread least (mean over classes of the std over folds); near-ties (np.isclose) go to the
    smaller fold. The std is np.std's own sequence of operations, written out."""
    folds = len(placed)
    every = np.arange(folds)
    shares = np.repeat((placed / class_sizes)[None], folds, axis=0)   # candidate i: the group in fold i
    shares[every, every] = (placed + counts) / class_sizes
    centred = shares - shares.sum(axis=1, keepdims=True) / folds
    scores = (np.sqrt((centred * centred).sum(axis=1) / folds).sum(axis=1) / shares.shape[2]).tolist()
    sizes = placed.sum(axis=1).tolist()
    best, best_score, best_size = 0, math.inf, math.inf
    for fold in range(folds):
        score, size = scores[fold], sizes[fold]
        if score < best_score or (_isclose(score, best_score) and size < best_size):
            best, best_score, best_size = fold, score, size
    return best


def _isclose(a: float, b: float) -> bool:
    """np.isclose(a, b) for finite a, in plain floats (rtol 1e-5, atol 1e-8)."""
    return math.isfinite(b) and abs(a - b) <= 1e-8 + 1e-5 * abs(b)
