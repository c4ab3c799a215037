"""The confirming check's correlation casts its mask once and tests `b`'s clipping on its one
row; the scores must be the floats of the plain formulation, bit for bit, since stored pair
scores and every verdict at a threshold depend on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from curation.confirm import CLIP_HIGH, CLIP_LOW, MIN_VALID, TRIM, _pooled, _pooled_views, correlation, thumb_array
from curation.hashing import signature


def plain_correlation(a: np.ndarray, b: np.ndarray, trim: float = 0.0) -> np.ndarray:
    """The formulation before issue 21's stop 25 (a bool mask in every product), as reference."""
    def masked(a, b, valid):
        count = np.maximum(valid.sum(axis=1), 1)
        a_mean, b_mean = (a * valid).sum(axis=1) / count, (b * valid).sum(axis=1) / count
        da, db = (a - a_mean[:, None]) * valid, (b - b_mean[:, None]) * valid
        denominator = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            score = (da * db).sum(axis=1) / denominator
        flat = denominator < 1e-6
        score[flat] = (np.abs(a_mean - b_mean) < 4.0)[flat].astype(np.float64)
        return score

    def standardised(x, valid):
        count = valid.sum(axis=1, keepdims=True)
        mean = (x * valid).sum(axis=1, keepdims=True) / count
        return (x - mean) / (np.sqrt((((x - mean) * valid) ** 2).sum(axis=1, keepdims=True) / count) + 1e-6)

    b = b.reshape(1, -1).astype(np.float64)
    a = a.reshape(-1, b.shape[1]).astype(np.float64)
    b = np.broadcast_to(b, a.shape)
    valid = (a > CLIP_LOW) & (a < CLIP_HIGH) & (b > CLIP_LOW) & (b < CLIP_HIGH)
    valid[valid.sum(axis=1) < min(MIN_VALID, b.shape[1] // 4)] = True
    score = masked(a, b, valid)
    if trim > 0:
        residual = np.where(valid, np.abs(standardised(a, valid) - standardised(b, valid)), np.inf)
        keep = np.maximum(1, np.floor(valid.sum(axis=1) * (1.0 - trim)).astype(int))
        limit = np.take_along_axis(np.sort(residual, axis=1), (keep - 1)[:, None], axis=1)
        score = masked(a, b, valid & (residual <= limit))
    return score


def test_correlation_gives_the_plain_formulations_floats_on_real_and_clipped_thumbnails(flowers_dir: Path) -> None:
    thumbs = []
    for path in sorted(flowers_dir.glob("*/*.jpg"))[::50]:
        with Image.open(path) as im:
            image = ImageOps.exif_transpose(im).convert("RGB")
        image.thumbnail((256, 256))
        thumbs.append(signature(image).thumb)
    thumbs += [bytes([v]) * 1024 for v in (0, 3, 128, 255)] + [bytes([0, 255, 40, 250]) * 256]  # clipped, flat
    for x in thumbs:
        views = _pooled_views([x])[0]
        for y in thumbs[::3]:
            other = _pooled(thumb_array(y))
            for trim in (0.0, TRIM):
                assert np.array_equal(correlation(views, other, trim), plain_correlation(views, other, trim),
                                      equal_nan=True)
                assert np.array_equal(correlation(thumb_array(x), thumb_array(y), trim),
                                      plain_correlation(thumb_array(x), thumb_array(y), trim), equal_nan=True)
