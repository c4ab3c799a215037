"""The confirming check: are two hash-close images really the same picture?

Hashes are the first piece of evidence; before an image is discarded a second, independent one
must agree. Here that is a pixel-level comparison of the 32x32 grey thumbnails stored at analysis
(so confirming never decodes an image again): the normalised correlation over the pixels that are
not clipped in either thumbnail, plain and with the worst-matching 10 % of them dropped.
Brightness changes that clip highlights or shadows leave the rest an affine copy, a caption
touches few pixels, so a copy scores ~0.99+ on one of the two; two different pictures of centred
objects on plain backgrounds, which hash close by chance, differ all over their objects.

A crop (3-15 % cut from the edges) is aligned first: the best correlation over sub-boxes of one
thumbnail (5 scales x 5 x 5 positions) resampled onto the other.

An embedding lookup can replace the pixel score: `Similarity` is any callable
`(id_a, id_b) -> float | None`; None means "no features for this pair", and the pixel check is used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from curation.hashing import THUMB_SIDE

Similarity = Callable[[str, str], "float | None"]

CLIP_LOW, CLIP_HIGH = 6, 249     # grey levels treated as clipped
MIN_VALID = 64                   # fewer unclipped pixels than this: correlate all pixels
TOP_VIEWS = 8                    # crop views that get the trimmed score
TRIM = 0.10                      # share of worst-matching pixels the trimmed score drops
CROP_SCALES = (0.97, 0.94, 0.91, 0.88, 0.85)
CROP_OFFSETS = (0.0, 0.25, 0.5, 0.75, 1.0)
PIXEL_PAIRS_PER_CALL = 256       # pairs scored in one array call: ~2 MB per float64 array
CROP_PAIRS_PER_CALL = 8          # ... 125 views each: ~2 MB per float64 array (more is slower here)
CROP_MEMO = 100_000              # crop scores remembered
VIEW_MEMO = 1024                 # images whose crop views are remembered (125 KB each)

_crop_scores: dict[tuple[bytes, bytes], float] = {}
_views: dict[bytes, np.ndarray] = {}


def thumb_array(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8).reshape(THUMB_SIDE, THUMB_SIDE).astype(np.float32)


def correlation(a: np.ndarray, b: np.ndarray, trim: float = 0.0) -> np.ndarray:
    """Normalised correlation of `b` (one thumbnail) with each of the thumbnails `a`, over the
    pixels unclipped in both; with `trim`, the worst-matching share of those pixels is dropped
    first, so a local change (a caption, a logo) does not hide that the rest is the same."""
    return row_correlation(a.reshape(-1, b.size), b.reshape(1, -1), trim)


def row_correlation(a: np.ndarray, b: np.ndarray, trim: float = 0.0) -> np.ndarray:
    """`correlation` of each row (last axis) of `a` with the row of `b` it broadcasts with: the
    same row, or one row of `b` against many of `a`, which is then cast and tested once. Every
    row is reduced on its own, so a row's score is the same float whichever rows share the call:
    many pairs are scored in one call, without numpy's per-call cost for each."""
    b = b.astype(np.float64)
    a = a.astype(np.float64)
    valid = (a > CLIP_LOW) & (a < CLIP_HIGH) & ((b > CLIP_LOW) & (b < CLIP_HIGH))
    count = valid.sum(axis=-1)
    few = count < min(MIN_VALID, a.shape[-1] // 4)
    valid[few] = True
    count[few] = a.shape[-1]
    weight = valid.astype(np.float64)  # cast once: a product with a bool mask casts it each time
    score = _masked_correlation(a, b, weight, count)
    if trim > 0:
        za, zb = _standardised(a, weight, count), _standardised(b, weight, count)
        residual = np.where(valid, np.abs(za - zb), np.inf)
        keep = np.maximum(1, np.floor(count * (1.0 - trim)).astype(int))
        limit = np.take_along_axis(np.sort(residual, axis=-1), (keep - 1)[..., None], axis=-1)
        kept = valid & (residual <= limit)
        score = _masked_correlation(a, b, kept.astype(np.float64), kept.sum(axis=-1))
    return score


def _standardised(x: np.ndarray, weight: np.ndarray, count: np.ndarray) -> np.ndarray:
    """`x` centred and scaled by its mean and spread over the pixels of weight 1."""
    count = count[..., None]
    mean = (x * weight).sum(axis=-1, keepdims=True) / count
    spread = np.sqrt((((x - mean) * weight) ** 2).sum(axis=-1, keepdims=True) / count) + 1e-6
    return (x - mean) / spread


def _masked_correlation(a: np.ndarray, b: np.ndarray, weight: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Row by row, the correlation of `a` and `b` over the pixels of weight 1 (`count` of them)."""
    count = np.maximum(count, 1)
    a_mean = (a * weight).sum(axis=-1) / count
    b_mean = (b * weight).sum(axis=-1) / count
    da = (a - a_mean[..., None]) * weight
    db = (b - b_mean[..., None]) * weight
    denominator = np.sqrt((da * da).sum(axis=-1) * (db * db).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (da * db).sum(axis=-1) / denominator
    flat = denominator < 1e-6  # a flat thumbnail: the same picture only if both are flat and alike
    score[flat] = (np.abs(a_mean - b_mean) < 4.0)[flat].astype(np.float64)
    return score


@dataclass(frozen=True)
class PixelScore:
    """Correlation over all unclipped pixels, and with the worst TRIM of them dropped."""

    full: float
    trimmed: float


def pixel_similarity(a: bytes, b: bytes, mirrored: bool = False) -> PixelScore:
    """Scores of two thumbnails, `b` mirrored first when the hashes matched its mirror."""
    return pixel_similarities([(a, b, mirrored)])[0]


def pixel_similarities(pairs: Sequence[tuple[bytes, bytes, bool]]) -> list[PixelScore]:
    """`pixel_similarity` of each (a, b, mirrored), PIXEL_PAIRS_PER_CALL pairs per array call."""
    out = []
    for start in range(0, len(pairs), PIXEL_PAIRS_PER_CALL):
        chunk = pairs[start:start + PIXEL_PAIRS_PER_CALL]
        first = np.stack([thumb_array(a) for a, _, _ in chunk]).reshape(len(chunk), -1)
        second = np.stack([thumb_array(b)[:, ::-1] if mirrored else thumb_array(b)
                           for _, b, mirrored in chunk]).reshape(len(chunk), -1)
        full, trimmed = row_correlation(first, second), row_correlation(first, second, TRIM)
        out += [PixelScore(f, t) for f, t in zip(full.tolist(), trimmed.tolist())]
    return out


@lru_cache(maxsize=1)
def _axis_weights() -> np.ndarray:
    """Linear-interpolation matrices (scale, offset, out, in) that resample a sub-range of an
    axis of THUMB_SIDE pixels back onto THUMB_SIDE pixels."""
    n = THUMB_SIDE
    out = np.zeros((len(CROP_SCALES), len(CROP_OFFSETS), n, n), dtype=np.float32)
    centres = (np.arange(n) + 0.5) / n
    for s, scale in enumerate(CROP_SCALES):
        for o, offset in enumerate(CROP_OFFSETS):
            source = ((1 - scale) * offset + scale * centres) * n - 0.5
            low = np.clip(np.floor(source).astype(int), 0, n - 1)
            high = np.clip(low + 1, 0, n - 1)
            weight = np.clip(source - np.floor(source), 0, 1)
            out[s, o, np.arange(n), low] += 1 - weight
            out[s, o, np.arange(n), high] += weight
    return out


def crop_views(thumbs: np.ndarray) -> np.ndarray:
    """Every sub-box of the grid of each thumbnail (n, side, side), resampled to a full
    thumbnail: (n, boxes, side, side)."""
    weights = _axis_weights()                                   # (scale, offset, out, in)
    rows = weights[None] @ thumbs[:, None, None]                # rows resampled: (n, s, o, out, in)
    views = rows[:, :, :, None] @ weights.transpose(0, 1, 3, 2)[None, :, None]  # then columns: (n, s, oy, ox, out, out)
    return views.reshape(len(thumbs), -1, THUMB_SIDE, THUMB_SIDE)


def _pooled(thumbs: np.ndarray) -> np.ndarray:
    """2x2 means: the resampled crop views are slightly blurred, at half size that no longer shows.
    The four pixels are added in pairs, as `reshape(..., 16, 2, 16, 2).mean(axis=(-1, -3))` adds
    them (the same float32 values, tested), without that reduction's ~20x cost."""
    top = thumbs[..., 0::2, 0::2] + thumbs[..., 0::2, 1::2]
    bottom = thumbs[..., 1::2, 0::2] + thumbs[..., 1::2, 1::2]
    return (top + bottom) / np.float32(4)


def _pooled_views(thumbs: list[bytes]) -> np.ndarray:
    """Each image's crop views at 16x16 (125 KB): (n, boxes, 16, 16). Those not remembered are
    made in one call; the last VIEW_MEMO images' are kept while their pairs are compared."""
    todo = [thumb for thumb in dict.fromkeys(thumbs) if thumb not in _views]
    if todo:
        made = _pooled(crop_views(np.stack([thumb_array(thumb) for thumb in todo]))).astype(np.float32)
        _views.update(zip(todo, made))
    out = np.stack([_views[thumb] for thumb in thumbs])
    for old in list(_views)[:max(0, len(_views) - VIEW_MEMO)]:
        del _views[old]
    return out


def crop_similarity(a: bytes, b: bytes) -> float:
    """Best trimmed correlation of either thumbnail with a crop of the other (which one is the
    crop is not known), compared at 16x16. The trimmed score (the slow one) is computed for the
    TOP_VIEWS views with the best plain correlation only."""
    return crop_similarities([(a, b)])[0]


def crop_similarities(pairs: Sequence[tuple[bytes, bytes]]) -> list[float]:
    """`crop_similarity` of each pair, CROP_PAIRS_PER_CALL pairs per array call. Remembered
    (up to CROP_MEMO pairs): calibration and judgement ask about the same pairs."""
    todo = list(dict.fromkeys(pair for pair in pairs if pair not in _crop_scores))
    if len(_crop_scores) + len(todo) > CROP_MEMO:
        _crop_scores.clear()
    for start in range(0, len(todo), CROP_PAIRS_PER_CALL):
        chunk = todo[start:start + CROP_PAIRS_PER_CALL]
        firsts, seconds = [a for a, _ in chunk], [b for _, b in chunk]
        for pair, one, other in zip(chunk, _best_views(firsts, seconds), _best_views(seconds, firsts)):
            _crop_scores[pair] = max(one, other)
    return [_crop_scores[pair] for pair in pairs]


def forget_scores() -> None:
    """Drop the remembered crop scores and views (tests that time or compare fresh runs)."""
    _crop_scores.clear()
    _views.clear()


def _best_views(viewed: list[bytes], others: list[bytes]) -> list[float]:
    """Per pair, the best trimmed score of `others[k]` against the crop views of `viewed[k]`,
    trimmed for the TOP_VIEWS views with the best plain correlation only."""
    views = _pooled_views(viewed)                                            # (pairs, boxes, 16, 16)
    views = views.reshape(*views.shape[:2], -1)
    other = np.stack([_pooled(thumb_array(thumb)) for thumb in others]).reshape(len(others), 1, -1)
    top = np.argsort(row_correlation(views, other), axis=-1)[:, -TOP_VIEWS:]
    chosen = np.take_along_axis(views, top[..., None], axis=1)              # (pairs, TOP_VIEWS, 256)
    return row_correlation(chosen, other, TRIM).max(axis=-1).tolist()
