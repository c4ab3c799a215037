"""Calibration's nearest null pairs, found without sorting them all, are the head of a stable sort."""

from __future__ import annotations

import numpy as np

from curation.calibrate import nearest


def test_nearest_is_the_head_of_a_stable_sort() -> None:
    rng = np.random.default_rng(5)
    for size, top in ((2_000_000, 64), (1000, 5), (150, 64), (201, 3), (5000, 2)):
        values = rng.integers(0, top, size).astype(np.int64)
        for count in (1, 200):
            assert np.array_equal(nearest(values, count), np.argsort(values, kind="stable")[:count])
