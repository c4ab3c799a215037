"""Pillow's resampling of 8-bit greyscale images, as matrix products.

Pillow resizes in two passes (horizontal, then vertical), each a convolution with fixed-point
coefficients (22 fractional bits) rounded and clipped to 8 bits. Written as a matrix of those
integer coefficients per axis, a pass is one matrix product: every product and partial sum is an
integer below 2**53, so float64 arithmetic (BLAS, any summation order) gives Pillow's result bit
for bit. The 18 crop boxes of one image (curation.hashing) then cost three products (both
scales' first pass together, one second pass per scale) instead of a Pillow call each, and the
two whole-image resizes of the image hashes share one first pass. Coefficients are computed as Pillow's
`precompute_coeffs` does (same operations, in the same order) and cached per axis geometry.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
from threadpoolctl import ThreadpoolController

PRECISION_BITS = 22        # Pillow's 8-bit fixed point: 32 - 8 - 2
LANCZOS_SUPPORT = 3.0


def _sinc(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x == 0.0, 1.0, np.sin(x * np.pi) / (x * np.pi))


def _lanczos(x: np.ndarray) -> np.ndarray:
    return np.where((-3.0 <= x) & (x < 3.0), _sinc(x) * _sinc(x / 3), 0.0)


@lru_cache(maxsize=512)
def lanczos_weights(in_size: int, in0: float, in1: float, out_size: int) -> np.ndarray:
    """(out_size, in_size) float64 matrix of Pillow's integer LANCZOS coefficients for resampling
    the source range [in0, in1) of an axis of `in_size` pixels onto `out_size` pixels. Pillow
    receives a resize box as C floats: the range is rounded to float32 first, as there."""
    low, high = np.float32(in0), np.float32(in1)
    scale = float(high - low) / out_size
    filterscale = max(scale, 1.0)
    support = LANCZOS_SUPPORT * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    center = float(low) + (np.arange(out_size) + 0.5) * scale
    xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)           # C casts truncate
    xmax = np.minimum((center + support + 0.5).astype(np.int64), in_size) - xmin
    taps = np.arange(ksize)
    used = taps[None, :] < xmax[:, None]
    weights = np.where(used, _lanczos((taps[None, :] + xmin[:, None] - center[:, None] + 0.5) * (1.0 / filterscale)), 0.0)
    total = np.cumsum(weights, axis=1)[:, -1:]                                # summed in order, as Pillow does
    weights = np.where(total != 0.0, weights / np.where(total != 0.0, total, 1.0), weights)
    scaled = weights * float(1 << PRECISION_BITS)
    fixed = np.where(scaled < 0, np.trunc(scaled - 0.5), np.trunc(scaled + 0.5))
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    rows, cols = np.nonzero(used)
    matrix[rows, xmin[rows] + cols] = fixed[rows, cols]
    matrix.setflags(write=False)
    return matrix


def fixed_point_pass(products: np.ndarray) -> np.ndarray:
    """Pillow's rounding of one pass: add half, shift by the precision, clip to 0..255. Done in
    place on `products` (a pass's fresh product): no temporaries. Scaling by 2**-22 is exact."""
    products += float(1 << (PRECISION_BITS - 1))
    products *= 1.0 / float(1 << PRECISION_BITS)
    np.floor(products, out=products)
    return np.clip(products, 0, 255, out=products)


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    """The BLAS libraries alone: a limit reads and restores only what it changes."""
    return ThreadpoolController().select(user_api="blas")


_nesting = threading.local()


def blas_single_threaded() -> None:
    """One BLAS thread for the rest of this process: for a process whose threads all analyse
    (a fetch worker), where one thread leaving `one_blas_thread` would otherwise hand OpenBLAS's
    own threads back to the others mid-product; every limit lifted later restores this one."""
    _blas().limit(limits=1, user_api="blas")


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """One BLAS thread for these products: they are small, and analysis already runs one process
    per core; OpenBLAS's own threads made them 6-20x slower on a loaded machine. Setting it costs
    ~6-30 us, so uses nested in one thread (an image's hashes, then its crop hashes) set it once;
    between threads, threadpoolctl's own rule holds (one thread controls OpenBLAS at a time)."""
    if getattr(_nesting, "inside", False):
        yield
        return
    _nesting.inside = True
    try:
        with _blas().limit(limits=1, user_api="blas"):
            yield
    finally:
        _nesting.inside = False


def vertical_first(height: int, width: int, out_h: int, out_w: int) -> bool:
    """Pillow 13's pass order: vertical first where the height shrinks by more than twice as
    many pixels as the width (earlier Pillows always went horizontal first)."""
    return height - out_h > 0 and height - out_h > 2 * (width - out_w)


def resize_grid(grey: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Pillow's resize of `grey` (height, width) for every pair of a row matrix (a, out_h, height)
    and a column matrix (b, out_w, width), its passes in Pillow's order: (a, b, out_h, out_w)."""
    return resize_grids(grey, [(rows, columns)])[0]


def resize_grids(grey: np.ndarray, grids: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """`resize_grid` for several (rows, columns) pairs of one output size (the crop boxes' scales),
    their first passes (the same pass order for all: same source, same output size) as one product."""
    out_h, out_w = grids[0][0].shape[1], grids[0][1].shape[1]
    first_rows = vertical_first(*grey.shape, out_h, out_w)
    firsts = [rows if first_rows else columns for rows, columns in grids]
    edges = np.cumsum([0] + [first.shape[0] * first.shape[1] for first in firsts])
    stacked = np.concatenate([first.reshape(-1, first.shape[2]) for first in firsts])
    results = []
    with one_blas_thread():
        both_first = fixed_point_pass(stacked @ grey if first_rows else grey @ stacked.T)
        for (rows, columns), start, stop in zip(grids, edges[:-1], edges[1:]):
            a, b = len(rows), len(columns)
            if first_rows:
                both = fixed_point_pass(both_first[start:stop] @ columns.reshape(b * out_w, -1).T)
            else:
                both = fixed_point_pass(rows.reshape(a * out_h, -1) @ both_first[:, start:stop])
            results.append(both.reshape(a, out_h, b, out_w).transpose(0, 2, 1, 3))
    return results


@lru_cache(maxsize=512)
def _whole_axes(size: int, outs: tuple[int, ...]) -> np.ndarray:
    """The LANCZOS matrices of an axis of `size` pixels to each of `outs`, stacked (one product)."""
    stacked = np.concatenate([lanczos_weights(size, 0.0, size, out) for out in outs])
    stacked.setflags(write=False)
    return stacked


def resize_whole(grey: np.ndarray, sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Pillow's LANCZOS resize of the whole of `grey` (height, width) to each (width, height) of
    `sizes`. The sizes Pillow resizes horizontally first (all but much taller than wide images)
    share that pass: one product for all of them."""
    height, width = grey.shape
    results: dict[tuple[int, int], np.ndarray] = {}
    together = [size for size in sizes if not vertical_first(height, width, size[1], size[0])]
    if together:
        columns = _whole_axes(width, tuple(out_w for out_w, _ in together))
        with one_blas_thread():
            first = fixed_point_pass(grey @ columns.T)
            edges = np.cumsum([0] + [out_w for out_w, _ in together])
            for (out_w, out_h), start, stop in zip(together, edges[:-1], edges[1:]):
                results[out_w, out_h] = fixed_point_pass(lanczos_weights(height, 0.0, height, out_h) @ first[:, start:stop])
    for out_w, out_h in sizes:
        if (out_w, out_h) not in results:  # vertical first: one size alone, as resize_grid does it
            rows, columns = lanczos_weights(height, 0.0, height, out_h), lanczos_weights(width, 0.0, width, out_w)
            results[out_w, out_h] = resize_grid(grey, rows[None], columns[None])[0, 0]
    return [results[size] for size in sizes]
