"""The Hamming index against brute force on random data with planted near neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from curation.index import HammingIndex, brute_force_pairs, choose_bands


def planted(n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    hashes = [int(x) for x in rng.integers(0, 2**63, size=n, dtype=np.int64)]
    hashes = [h | (int(rng.integers(0, 2)) << 63) for h in hashes]
    for k in range(n // 5):  # near neighbours at every distance 0..14
        value = hashes[k]
        for bit in rng.choice(64, size=int(rng.integers(0, 15)), replace=False):
            value ^= 1 << int(bit)
        hashes[n - 1 - k] = value
    return hashes


@pytest.mark.parametrize("bands", [3, 4, 5, None])
@pytest.mark.parametrize("radius", [0, 4, 10])
def test_pairs_match_brute_force(bands: int | None, radius: int) -> None:
    hashes = planted(1500, seed=radius + (bands or 0))
    expected = brute_force_pairs(hashes, radius)
    for cells in (0, 10**9):  # the multi-index path, and the direct path for small sets
        index = HammingIndex(hashes, bands=bands, brute_force_cells=cells)
        found = {(int(a), int(b)) for a, b, _ in index.pairs(radius)}
        assert found == expected
    assert len(expected) > 0 or radius == 0


def test_search_returns_ids_and_distances_nearest_first() -> None:
    hashes = planted(800, seed=7)
    ids = [f"img{i}" for i in range(len(hashes))]
    index = HammingIndex(hashes, ids=ids, brute_force_cells=0)
    query = hashes[3] ^ 0b1011  # 3 bits away from img3
    result = index.search(query, 10)
    expected = sorted(((ids[i], (query ^ h).bit_count()) for i, h in enumerate(hashes)
                       if (query ^ h).bit_count() <= 10), key=lambda x: x[1])
    assert [d for _, d in result] == [d for _, d in expected]
    assert set(result) == set(expected)
    assert result[0] == ("img3", 3)


def test_band_choice_grows_with_size() -> None:
    assert choose_bands(1_000, 10) >= choose_bands(1_000_000, 10)
    assert HammingIndex([1, 2, 3]).m >= 3


def test_many_pairs_overflow_the_first_output_buffer() -> None:
    """1,200 hashes within a few bits of one another: ~720k pairs, more than the kernels' first
    buffer holds, so the index reruns a band with a buffer of the size it counted."""
    rng = np.random.default_rng(5)
    base = int(rng.integers(0, 2**63))
    hashes = [base ^ sum(1 << int(b) for b in rng.choice(64, size=3, replace=False)) for _ in range(1200)]
    index = HammingIndex(hashes, brute_force_cells=0)
    found = index.pairs(10)
    assert {(int(a), int(b)) for a, b, _ in found} == brute_force_pairs(hashes, 10)
    assert len(found) > 65_536
    hits = index.search_many(hashes[:3], 10)
    assert [len(h) for h in hits] == [sum((hashes[q] ^ h).bit_count() <= 10 for h in hashes) for q in range(3)]
