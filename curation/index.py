"""A Hamming-radius index over 64-bit hashes: multi-index hashing with numpy.

By the pigeonhole principle, two hashes within distance r differ by at most floor(r/m) bits in at
least one of m bands. The index keeps each band sorted; a search enumerates the band values within
that small radius, gathers candidates with searchsorted, and verifies them with one vectorised
popcount. The self-join (`pairs`) does the same for all hashes at once, band by band.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import combinations
from math import comb

import numpy as np

BITS = 64
BRUTE_FORCE_CELLS = 25_000_000  # query x index sizes up to this are compared directly
BLOCK_CELLS = 5_000_000


def _masks(width: int, radius: int) -> np.ndarray:
    """All band values with at most `radius` bits set (XOR patterns to probe)."""
    patterns = [0]
    for k in range(1, radius + 1):
        patterns.extend(sum(1 << i for i in bits) for i in [0] for bits in combinations(range(width), k))
    return np.array(patterns, dtype=np.uint64)


def choose_bands(size: int, radius: int) -> int:
    """The band count with the least estimated work: probes per band grow with band width and
    the per-band radius, candidates shrink as 2**-width. Bands stay <= 24 bits (lookup tables)."""
    best, best_cost = 1, float("inf")
    for m in range(2, radius + 2):
        width = BITS // m
        if width > 24:
            continue
        sub = radius // m
        probes = sum(comb(width, k) for k in range(sub + 1))
        cost = m * probes * (size + 3.0 * size * size / 2.0 ** width)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


class HammingIndex:
    """Hashes with ids; `search(hash, radius)` and the self-join `pairs(radius)`."""

    def __init__(self, hashes: Iterable[int], ids: Iterable[object] | None = None, bands: int | None = None,
                 radius_hint: int = 10, brute_force_cells: int = BRUTE_FORCE_CELLS) -> None:
        self.brute_force_cells = brute_force_cells
        self.hashes = np.fromiter((int(h) & (2**64 - 1) for h in hashes), dtype=np.uint64)
        self.ids = list(ids) if ids is not None else list(range(len(self.hashes)))
        if len(self.ids) != len(self.hashes):
            raise ValueError("ids and hashes differ in length")
        self.m = max(3, bands or choose_bands(len(self.hashes), radius_hint))  # bands <= 22 bits
        edges = np.linspace(0, BITS, self.m + 1).astype(int)
        self.bands = list(zip(edges[:-1], edges[1:]))
        self._built: list | None = None

    @property
    def _tables(self) -> list:
        """Per-band lookup tables, built on first use (small sets never need them)."""
        if self._built is None:
            self._built = [self._table(lo, hi) for lo, hi in self.bands]
        return self._built

    def _table(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bucket start, bucket size, positions sorted by band value) for one band."""
        values = self._band(self.hashes, lo, hi).astype(np.int64)
        order = np.argsort(values, kind="stable")
        counts = np.bincount(values, minlength=1 << (hi - lo))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return starts, counts, order

    def __len__(self) -> int:
        return len(self.hashes)

    @staticmethod
    def _band(hashes: np.ndarray, lo: int, hi: int) -> np.ndarray:
        return (hashes >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)

    def _candidates(self, query: np.ndarray, radius: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(query position, index position) candidate pairs, one probe pass at a time, so only
        the verified pairs are ever kept in memory."""
        sub = radius // self.m
        for (lo, hi), (offsets, bucket, order) in zip(self.bands, self._tables):
            qband = self._band(query, lo, hi).astype(np.int64)
            for mask in _masks(hi - lo, sub).astype(np.int64):
                keys = qband ^ mask
                counts = bucket[keys]
                hit = np.nonzero(counts)[0]
                if hit.size == 0:
                    continue
                reps = counts[hit]
                q_idx = np.repeat(hit, reps)
                first = np.repeat(offsets[keys[hit]] - np.cumsum(reps) + reps, reps)
                yield q_idx, order[first + np.arange(reps.sum())]

    def _verified(self, query: np.ndarray, radius: int) -> np.ndarray:
        """Unique (query position, index position, distance) rows within `radius`."""
        if len(self.hashes) * len(query) <= self.brute_force_cells:
            return self._brute(query, radius)
        found = []
        for q_idx, i_idx in self._candidates(query, radius):
            distances = np.bitwise_count(query[q_idx] ^ self.hashes[i_idx])
            close = distances <= radius
            if close.any():
                found.append(np.stack([q_idx[close], i_idx[close], distances[close].astype(np.int64)], axis=1))
        if not found:
            return np.empty((0, 3), dtype=np.int64)
        return np.unique(np.concatenate(found), axis=0)

    def _brute(self, query: np.ndarray, radius: int) -> np.ndarray:
        """Every query against every hash, in blocks: faster than probing for small sets."""
        found = []
        block = max(1, BLOCK_CELLS // max(1, len(self.hashes)))
        for start in range(0, len(query), block):
            distances = np.bitwise_count(query[start:start + block, None] ^ self.hashes[None, :])
            q_idx, i_idx = np.nonzero(distances <= radius)
            found.append(np.stack([q_idx + start, i_idx, distances[q_idx, i_idx].astype(np.int64)], axis=1))
        return np.concatenate(found) if found else np.empty((0, 3), dtype=np.int64)

    def search(self, hash_value: int, radius: int) -> list[tuple[object, int]]:
        """(id, distance) of every stored hash within `radius` of `hash_value`, nearest first."""
        found = self.search_many([hash_value], radius)[0]
        return found

    def search_many(self, hashes: Iterable[int], radius: int) -> list[list[tuple[object, int]]]:
        query = np.fromiter((int(h) & (2**64 - 1) for h in hashes), dtype=np.uint64)
        results: list[list[tuple[object, int]]] = [[] for _ in range(len(query))]
        for q, i, d in self._verified(query, radius):
            results[q].append((self.ids[i], int(d)))
        for row in results:
            row.sort(key=lambda item: item[1])
        return results

    def pairs(self, radius: int, chunk: int = 100_000) -> np.ndarray:
        """All index-position pairs (i < j) within `radius`, as an (n, 3) array [i, j, distance]."""
        out = []
        for start in range(0, len(self.hashes), chunk):
            found = self._verified(self.hashes[start:start + chunk], radius)
            found[:, 0] += start
            out.append(found[found[:, 0] < found[:, 1]])
        if not out:
            return np.empty((0, 3), dtype=np.int64)
        return np.unique(np.concatenate(out), axis=0)


def brute_force_pairs(hashes: Iterable[int], radius: int) -> set[tuple[int, int]]:
    """The reference the index is tested against: every pair, checked directly."""
    values = [int(h) for h in hashes]
    return {(i, j) for i in range(len(values)) for j in range(i + 1, len(values))
            if (values[i] ^ values[j]).bit_count() <= radius}
