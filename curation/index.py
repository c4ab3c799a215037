"""A Hamming-radius index over 64-bit hashes: multi-index hashing, probed in compiled code.

By the pigeonhole principle, two hashes within distance r differ by at most floor(r/m) bits in at
least one of m bands. The index keeps the hashes sorted by each band's value; a search probes the
band values within that small radius and verifies the candidates with one popcount each. The
loops run in numba (curation.hamming_kernels), imported only when a search is big enough to use
them: loading numba and its cached kernels costs ~0.5-1 s per process, the time numpy takes to
compare ~200M hash pairs directly, so smaller searches (a curate of a few thousand images) are
compared directly and never import it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import combinations
from math import comb

import numpy as np

BITS = 64
BRUTE_FORCE_CELLS = 200_000_000  # query x index sizes up to this are compared directly (<= ~0.7 s)
BLOCK_CELLS = 1_000_000          # cells compared at once: blocks that stay in cache are ~1.4x faster
MAX_BAND_BITS = 24               # a band's bucket table has 2**width + 1 entries
FIRST_BUFFER_ROWS = 1 << 16
CANDIDATE_COST = 0.1             # one candidate check against one bucket probe (measured with numba at 100k-1M)


def _masks(width: int, radius: int) -> np.ndarray:
    """All band values with at most `radius` bits set (XOR patterns to probe)."""
    patterns = [0]
    for k in range(1, radius + 1):
        patterns.extend(sum(1 << i for i in bits) for bits in combinations(range(width), k))
    return np.array(patterns, dtype=np.int64)


def choose_bands(size: int, radius: int) -> int:
    """The band count with the least estimated self-join work: per band, every probe visits the
    occupied buckets, and candidates (pairs within the per-band radius) shrink as 2**-width."""
    best, best_cost = 1, float("inf")
    for m in range(2, radius + 2):
        width = BITS // m
        if width > MAX_BAND_BITS:
            continue
        probes = sum(comb(width, k) for k in range(radius // m + 1))
        candidates = size * size / 2.0 * probes / 2.0 ** width
        cost = m * (probes * min(size, 2 ** width) + CANDIDATE_COST * candidates)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def _grown(kernel: Callable[..., int], *args: object) -> np.ndarray:
    """Run a kernel into an output buffer, once more with the exact size if it overflowed."""
    rows = FIRST_BUFFER_ROWS
    while True:
        out = np.empty((rows, 3), dtype=np.int64)
        found = kernel(*args, out)
        if found <= rows:
            return out[:found]
        rows = found


class HammingIndex:
    """Hashes with ids; `search(hash, radius)` and the self-join `pairs(radius)`."""

    def __init__(self, hashes: Iterable[int], ids: Iterable[object] | None = None, bands: int | None = None,
                 radius_hint: int = 10, brute_force_cells: int = BRUTE_FORCE_CELLS) -> None:
        self.brute_force_cells = brute_force_cells
        if isinstance(hashes, np.ndarray) and hashes.dtype == np.uint64:
            self.hashes = hashes
        else:
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
        """Per-band tables, built on first use (small sets never need them)."""
        if self._built is None:
            self._built = [self._table(lo, hi) for lo, hi in self.bands]
        return self._built

    def _table(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(hashes sorted by band value, their positions, bucket starts, occupied buckets)."""
        values = self._band(self.hashes, lo, hi)
        order = np.argsort(values, kind="stable")
        counts = np.bincount(values, minlength=1 << (hi - lo))
        starts = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        return self.hashes[order], order.astype(np.int64), starts, np.flatnonzero(counts).astype(np.int64)

    def __len__(self) -> int:
        return len(self.hashes)

    @staticmethod
    def _band(hashes: np.ndarray, lo: int, hi: int) -> np.ndarray:
        return ((hashes >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)).astype(np.int64)

    def _earlier(self, band: int) -> np.ndarray:
        """Bit masks of the bands before `band` (a pair is reported by the first band that holds it)."""
        return np.array([((1 << (hi - lo)) - 1) << lo for lo, hi in self.bands[:band]], dtype=np.uint64)

    def compared_directly(self, queries: int) -> bool:
        """True when `queries` hashes against this index are compared in numpy, every one with every
        one, rather than probed by the compiled kernels (which cost a numba start-up once per process)."""
        return len(self.hashes) * queries <= self.brute_force_cells

    def _verified(self, query: np.ndarray, radius: int) -> np.ndarray:
        """(query position, index position, distance) rows within `radius`, each pair once."""
        if self.compared_directly(len(query)):
            return self._brute(query, radius)
        from curation import hamming_kernels

        sub = radius // self.m
        found = []
        for band, ((lo, hi), (sorted_hashes, positions, starts, _)) in enumerate(zip(self.bands, self._tables)):
            found.append(_grown(hamming_kernels.search_band, query, self._band(query, lo, hi), sorted_hashes,
                                positions, starts, _masks(hi - lo, sub), self._earlier(band), sub, radius))
        return np.concatenate(found)

    def _brute(self, query: np.ndarray, radius: int) -> np.ndarray:
        """Every query against every hash, in blocks: faster than probing for small sets."""
        found = []
        block = max(1, BLOCK_CELLS // max(1, len(self.hashes)))
        for start in range(0, len(query), block):
            distances = np.bitwise_count(query[start:start + block, None] ^ self.hashes[None, :])
            rows = np.flatnonzero(distances.min(axis=1) <= radius)  # rows without a hit skipped: ~2x faster
            q_idx, i_idx = np.nonzero(distances[rows] <= radius)
            q_idx = rows[q_idx]
            found.append(np.stack([q_idx + start, i_idx, distances[q_idx, i_idx].astype(np.int64)], axis=1))
        return np.concatenate(found) if found else np.empty((0, 3), dtype=np.int64)

    def search(self, hash_value: int, radius: int) -> list[tuple[object, int]]:
        """(id, distance) of every stored hash within `radius` of `hash_value`, nearest first."""
        found = self.search_many([hash_value], radius)[0]
        return found

    def search_many(self, hashes: Iterable[int], radius: int) -> list[list[tuple[object, int]]]:
        hashes = list(hashes)
        results: list[list[tuple[object, int]]] = [[] for _ in hashes]
        for q, i, d in self.matches(hashes, radius):
            results[q].append((self.ids[i], int(d)))
        for row in results:
            row.sort(key=lambda item: item[1])
        return results

    def matches(self, hashes: Sequence[int], radius: int) -> np.ndarray:
        """Every (query position, index position, distance) within `radius`, as an (n, 3) array in
        no particular order: `search_many` without a Python list per query."""
        return self._verified(np.fromiter((int(h) & (2**64 - 1) for h in hashes), dtype=np.uint64), radius)

    def pairs(self, radius: int) -> np.ndarray:
        """All index-position pairs (i < j) within `radius`, as an (n, 3) array [i, j, distance],
        sorted by i then j."""
        if self.compared_directly(len(self.hashes)):
            found = self._brute(self.hashes, radius)
            found = found[found[:, 0] < found[:, 1]]
        else:
            from curation import hamming_kernels

            sub = radius // self.m
            found = np.concatenate([
                _grown(hamming_kernels.join_band, sorted_hashes, positions, starts, buckets,
                       _masks(hi - lo, sub), self._earlier(band), sub, radius)
                for band, ((lo, hi), (sorted_hashes, positions, starts, buckets))
                in enumerate(zip(self.bands, self._tables))])
        return found[np.lexsort((found[:, 1], found[:, 0]))]


def brute_force_pairs(hashes: Iterable[int], radius: int) -> set[tuple[int, int]]:
    """The reference the index is tested against: every pair, checked directly."""
    values = [int(h) for h in hashes]
    return {(i, j) for i in range(len(values)) for j in range(i + 1, len(values))
            if (values[i] ^ values[j]).bit_count() <= radius}
