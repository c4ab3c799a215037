"""The distributed band join returns exactly the local index's pairs."""

from __future__ import annotations

import numpy as np
import pytest

from cluster.band_join import band_join_pairs
from curation.index import HammingIndex, brute_force_pairs


def planted_hashes(count: int, planted: int, seed: int) -> np.ndarray:
    """Random 64-bit hashes, with `planted` partners at 0..13 bits from an original (so some fall
    just inside and some just outside a radius of 10)."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**64, count, dtype=np.uint64, endpoint=False)
    chosen = rng.choice(count, 2 * planted, replace=False)
    for k, (original, partner) in enumerate(zip(chosen[:planted], chosen[planted:])):
        flipped = int(values[original])
        for bit in rng.choice(64, k % 14, replace=False):
            flipped ^= 1 << int(bit)
        values[partner] = np.uint64(flipped)
    return values


@pytest.mark.slow
def test_band_join_on_the_cluster_finds_exactly_the_local_pairs_of_100k_hashes(local_cluster: str) -> None:
    from distributed import Client

    values = planted_hashes(100_000, planted=1_500, seed=11)
    expected = HammingIndex(values, radius_hint=10).pairs(10)
    with Client(local_cluster) as client:
        found = band_join_pairs(values, 10, client=client)
    assert found.dtype == expected.dtype and found.shape == expected.shape
    assert np.array_equal(found, expected)
    assert len(expected) > 1_000   # the planted pairs within 10 bits, and the chance ones


@pytest.mark.parametrize("radius", [0, 1, 4, 7, 12])
def test_band_join_matches_brute_force_on_clustered_hashes(radius: int) -> None:
    """Hashes crowded into few values (bursts of near copies) on Dask's local threads."""
    rng = np.random.default_rng(radius)
    centres = rng.integers(0, 2**64, 40, dtype=np.uint64, endpoint=False)
    noise = np.zeros(1_200, dtype=np.uint64)
    for bit in range(64):
        noise |= (rng.random(1_200) < 0.05).astype(np.uint64) << np.uint64(bit)
    values = centres[rng.integers(0, 40, 1_200)] ^ noise
    found = {(int(i), int(j)) for i, j, _ in band_join_pairs(values, radius, chunk=300)}
    assert found == brute_force_pairs(values.tolist(), radius)
