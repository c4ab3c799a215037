"""The hashes as arrays: a small set's crop distances, from the table of every box against every
pHash, must be the integers the pair-by-pair computation gives."""

from __future__ import annotations

import numpy as np

from curation.hash_table import HashTable
from curation.hashing import BOXES


def random_table(n: int, seed: int) -> HashTable:
    """Hashes near one another (a few bits flipped from a handful of bases), some without boxes."""
    rng = np.random.default_rng(seed)
    bases = rng.integers(0, 2**63, 5, dtype=np.uint64)

    def near(count: int) -> np.ndarray:
        flips = np.zeros(count, dtype=np.uint64)
        for _ in range(6):
            flips ^= np.uint64(1) << rng.integers(0, 64, count).astype(np.uint64)
        return bases[rng.integers(0, 5, count)] ^ flips

    phash = np.stack([near(n), near(n)], 1)
    crops = near(n * BOXES).reshape(n, BOXES)
    has = rng.random(n) > 0.1
    crops[~has] = 0
    return HashTable(phash, phash.copy(), crops, has)


def test_crop_distances_from_the_box_table_equal_the_pair_by_pair_ones() -> None:
    n = 300
    table = random_table(n, 3)
    first, second = np.triu_indices(n, 1)
    whole = table.crop_distance(first, second)                  # all pairs: the table
    pieces = [table.crop_distance(first[k:k + 500], second[k:k + 500], chunk=128)  # few pairs: chunked
              for k in range(0, first.size, 500)]
    assert np.array_equal(whole, np.concatenate(pieces))
    assert (whole < 64).sum() > 1000 and (whole == 64).sum() > 1000
    direct = [min(min((int(box) ^ int(table.phash[j, 0])).bit_count() for box in table.crops[i]),
                  min((int(box) ^ int(table.phash[i, 0])).bit_count() for box in table.crops[j]))
              if table.has_crops[i] and table.has_crops[j] else 64 for i, j in zip(first[:3000], second[:3000])]
    assert whole[:3000].tolist() == direct
