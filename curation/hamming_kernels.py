"""Compiled (numba) loops of the Hamming index: the band probing and candidate checks that were a
Python-level loop over thousands of numpy passes.

A band table is the hashes sorted by one band's value (`sorted_hashes`, with their original
positions), plus `starts`, the offset of every band value's bucket (length 2**width + 1). A pair
within `radius` is reported only from the first band where the two differ by at most `sub` bits
(pigeonhole: such a band exists), so no pair is reported twice and no dedup pass is needed.

Each kernel writes up to `len(out)` rows [a, b, distance] and returns how many it found; the
caller retries with a larger buffer when that is more than it could write.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def popcount(typingctx, value):
    """The CPU's population count of a uint64 (LLVM ctpop)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.uint64(types.uint64), codegen


@njit(cache=True, inline="always")
def _reported_earlier(xor: np.uint64, earlier: np.ndarray, sub: int) -> bool:
    """True when an earlier band already holds this pair (its band distance is <= sub)."""
    for k in range(len(earlier)):
        if np.int64(popcount(xor & earlier[k])) <= sub:
            return True
    return False


@njit(cache=True)
def join_band(sorted_hashes, positions, starts, buckets, probes, earlier, sub, radius, out):
    """Self-join within one band: every bucket u against u itself and u ^ probe (u < u ^ probe).
    Probes outer, buckets inner: the bucket lookups then sweep `starts` in near order."""
    found = 0
    capacity = out.shape[0]
    for p in range(len(probes)):
        probe = probes[p]
        for k in range(len(buckets)):
            u = buckets[k]
            v = u ^ probe
            if probe != 0 and v < u:
                continue
            a0, a1 = starts[u], starts[u + 1]
            b0, b1 = starts[v], starts[v + 1]
            if b0 == b1:
                continue
            for a in range(a0, a1):
                ha = sorted_hashes[a]
                first = a + 1 if probe == 0 else b0
                for b in range(first, b1):
                    xor = ha ^ sorted_hashes[b]
                    distance = np.int64(popcount(xor))
                    if distance <= radius and not _reported_earlier(xor, earlier, sub):
                        if found < capacity:
                            i, j = positions[a], positions[b]
                            out[found, 0] = min(i, j)
                            out[found, 1] = max(i, j)
                            out[found, 2] = distance
                        found += 1
    return found


@njit(cache=True)
def search_band(queries, query_keys, sorted_hashes, positions, starts, probes, earlier, sub, radius, out):
    """Queries against one band's table: rows [query position, index position, distance]."""
    found = 0
    capacity = out.shape[0]
    for q in range(len(queries)):
        hq = queries[q]
        for p in range(len(probes)):
            v = query_keys[q] ^ probes[p]
            for b in range(starts[v], starts[v + 1]):
                xor = hq ^ sorted_hashes[b]
                distance = np.int64(popcount(xor))
                if distance <= radius and not _reported_earlier(xor, earlier, sub):
                    if found < capacity:
                        out[found, 0] = q
                        out[found, 1] = positions[b]
                        out[found, 2] = distance
                    found += 1
    return found
