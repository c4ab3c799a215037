"""The near-duplicate self-join as a distributed band join over a Dask bag.

Pigeonhole, as in `curation.index`: two 64-bit hashes within Hamming distance r differ by at most
s = r // m bits in at least one of m bands. Each band value is split into route bits (the top t
bits) and low bits. Every hash is shuffled, per band, to the partition of its route bits (the
index side), and to each partition its route bits reach with at most s flips (the query side,
carrying the flip budget left for the low bits). Each partition then probes its low-bit table
with the remaining budget and verifies candidates with a popcount, on the workers.

Exactly the local index's pairs: a pair is emitted by query i < index j, only in the first band
where the two hashes are within s bits, and only through the one route pattern and low pattern
that separate them; so no pair is missed and none is found twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from curation.index import BITS, choose_bands

CHUNK = 25_000          # hashes per input partition
ROUTE_BITS = 3          # 2**3 partitions per band
MASK64 = (1 << 64) - 1


def band_join_pairs(hashes: Sequence[int] | np.ndarray, radius: int, *, client=None,
                    chunk: int = CHUNK) -> np.ndarray:
    """All position pairs (i < j) within `radius`, as an (n, 3) array [i, j, distance] sorted like
    `HammingIndex.pairs`. Runs on `client`'s cluster, or on Dask's local threads without one."""
    import dask.bag as db

    values = _as_uint64(hashes)
    if len(values) < 2:
        return np.empty((0, 3), dtype=np.int64)
    bands = band_edges(max(3, choose_bands(len(values), radius)))
    budget = radius // len(bands)
    chunks = [(start, values[start:start + chunk]) for start in range(0, len(values), chunk)]
    shuffled = (db.from_sequence(chunks, npartitions=len(chunks))
                .map(emit_chunk, bands, budget).flatten()
                .groupby(lambda item: item[0], shuffle="tasks"))
    joined = shuffled.map(join_partition, bands, budget, radius)
    parts = joined.compute(scheduler=client if client is not None else "threads")
    found = [p for p in parts if len(p)]
    if not found:
        return np.empty((0, 3), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def band_edges(m: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, BITS, m + 1).astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:])]


def route_bits(width: int) -> int:
    return min(ROUTE_BITS, width - 1)


def patterns(width: int, most: int) -> np.ndarray:
    """Every `width`-bit value with at most `most` bits set, fewest bits first."""
    out = [0]
    for k in range(1, min(most, width) + 1):
        out.extend(sum(1 << bit for bit in bits) for bits in combinations(range(width), k))
    return np.array(out, dtype=np.int64)


def _band(values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return ((values >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)).astype(np.int64)


def emit_chunk(chunk: tuple[int, np.ndarray], bands: list[tuple[int, int]], budget: int) -> list[tuple]:
    """Map side: ((band, route), index hashes, index positions, query hashes, query positions,
    query budgets) for every partition this chunk sends rows to."""
    start, values = chunk
    positions = np.arange(start, start + len(values), dtype=np.int32 if start + len(values) < 2**31 else np.int64)
    out = []
    for b, (lo, hi) in enumerate(bands):
        t = route_bits(hi - lo)
        route = _band(values, lo, hi) >> (hi - lo - t)
        flips = patterns(t, budget)
        spent = np.bitwise_count(flips.astype(np.uint64)).astype(np.int64)
        for target in range(1 << t):
            own = route == target
            query_hashes, query_positions, query_budgets = [], [], []
            for flip, used in zip(flips, spent):
                reach = (route ^ flip) == target
                query_hashes.append(values[reach])
                query_positions.append(positions[reach])
                query_budgets.append(np.full(int(reach.sum()), budget - used, dtype=np.int8))
            out.append(((b, target), values[own], positions[own], np.concatenate(query_hashes),
                        np.concatenate(query_positions), np.concatenate(query_budgets)))
    return out


def join_partition(group: tuple, bands: list[tuple[int, int]], budget: int, radius: int) -> np.ndarray:
    """Reduce side: the verified pairs of one (band, route) partition."""
    (b, _), items = group
    lo, hi = bands[b]
    index_hashes = np.concatenate([item[1] for item in items])
    index_positions = np.concatenate([item[2] for item in items])
    query_hashes = np.concatenate([item[3] for item in items])
    query_positions = np.concatenate([item[4] for item in items])
    query_budgets = np.concatenate([item[5] for item in items])
    if not len(index_hashes) or not len(query_hashes):
        return np.empty((0, 3), dtype=np.int64)
    low_bits = hi - lo - route_bits(hi - lo)
    low_mask = (1 << low_bits) - 1
    index_low = _band(index_hashes, lo, hi) & low_mask
    order = np.argsort(index_low, kind="stable")
    sizes = np.bincount(index_low, minlength=1 << low_bits)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    query_low = _band(query_hashes, lo, hi) & low_mask
    found = []
    for flip in patterns(low_bits, budget):
        rows = np.nonzero(query_budgets >= int(flip).bit_count())[0]
        keys = query_low[rows] ^ flip
        counts = sizes[keys]
        hit = np.nonzero(counts)[0]
        if not hit.size:
            continue
        reps = counts[hit]
        q = np.repeat(rows[hit], reps)
        first = np.repeat(starts[keys[hit]] - np.cumsum(reps) + reps, reps)
        i = order[first + np.arange(reps.sum())]
        found.append(_verify(query_hashes[q], query_positions[q], index_hashes[i], index_positions[i],
                             bands[:b], budget, radius))
    return np.concatenate(found) if found else np.empty((0, 3), dtype=np.int64)


def _verify(qh: np.ndarray, qp: np.ndarray, ih: np.ndarray, ip: np.ndarray,
            earlier: list[tuple[int, int]], budget: int, radius: int) -> np.ndarray:
    """Keep query < index positions within `radius` whose first close band is this one."""
    xor = qh ^ ih
    distance = np.bitwise_count(xor).astype(np.int64)
    keep = (qp < ip) & (distance <= radius)
    for lo, hi in earlier:
        keep &= np.bitwise_count(_band(xor, lo, hi).astype(np.uint64)) > budget
    return np.stack([qp[keep].astype(np.int64), ip[keep].astype(np.int64), distance[keep]], axis=1)


def _as_uint64(hashes: Sequence[int] | np.ndarray) -> np.ndarray:
    if isinstance(hashes, np.ndarray) and hashes.dtype == np.uint64:
        return hashes
    return np.fromiter((int(h) & MASK64 for h in hashes), dtype=np.uint64)
