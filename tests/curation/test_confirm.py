"""The confirming check's correlation casts its mask once and tests `b`'s clipping on its one
row, and scores many pairs per call; the scores must be the floats of the plain formulation and
of one pair at a time, bit for bit, since stored pair scores and every verdict at a threshold
depend on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from curation import confirm
from curation.confirm import (CLIP_HIGH, CLIP_LOW, MIN_VALID, TOP_VIEWS, TRIM, _axis_weights, _pooled, _pooled_views,
                              correlation, crop_similarities, pixel_similarities, thumb_array)
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


def one_pair_pixels(a: bytes, b: bytes, mirrored: bool) -> tuple[float, float]:
    """The pixel scores as computed one pair per call before issue 21's stop 26, as reference."""
    first, second = thumb_array(a), thumb_array(b)
    if mirrored:
        second = second[:, ::-1]
    return float(correlation(first, second)[0]), float(correlation(first, second, TRIM)[0])


def one_pair_crop(a: bytes, b: bytes) -> float:
    """The aligned crop score as computed one pair (and one image's views) per call before stop 26."""
    def views_of(thumb: bytes) -> np.ndarray:
        weights = _axis_weights()
        rows = weights @ thumb_array(thumb)
        views = rows[:, :, None] @ weights.transpose(0, 1, 3, 2)[:, None]
        return _pooled(views.reshape(-1, 32, 32)).astype(np.float32)

    def best(views: np.ndarray, other: np.ndarray) -> float:
        top = np.argsort(correlation(views, other))[-TOP_VIEWS:]
        return float(correlation(views[top], other, TRIM).max())

    return float(max(best(views_of(a), _pooled(thumb_array(b))), best(views_of(b), _pooled(thumb_array(a)))))


def test_batched_scores_are_the_floats_of_one_pair_at_a_time_on_real_photos(flowers_dir: Path) -> None:
    """Real photos with their crops, darker and mirrored copies (the pairs confirmation sees),
    unrelated pairs and clipped or flat thumbnails, more pairs than one call takes."""
    thumbs = []
    for path in sorted(flowers_dir.glob("*/*.jpg"))[::60]:
        with Image.open(path) as im:
            image = ImageOps.exif_transpose(im).convert("RGB")
        w, h = image.size
        for copy in (image, image.crop((w // 10, h // 20, w, h - h // 20)), image.point(lambda v: int(v * 0.8)),
                     ImageOps.mirror(image)):
            copy.thumbnail((256, 256))
            thumbs.append(signature(copy).thumb)
    thumbs += [bytes([v]) * 1024 for v in (0, 128, 255)] + [bytes([0, 255, 40, 250]) * 256]
    pairs = [(thumbs[k], thumbs[k + step]) for step in (1, 2, 3, 7) for k in range(0, len(thumbs) - step, 2)]
    pairs.append(pairs[0])                                    # asked twice in one call
    assert len(pairs) > 4 * confirm.CROP_PAIRS_PER_CALL
    mirrored = [(a, b, k % 3 == 0) for k, (a, b) in enumerate(pairs)]
    confirm.forget_scores()
    assert [(s.full, s.trimmed) for s in pixel_similarities(mirrored)] == [one_pair_pixels(*p) for p in mirrored]
    crops = crop_similarities(pairs)
    assert crops == [one_pair_crop(a, b) for a, b in pairs]
    assert sum(score >= 0.985 for score in crops) >= 5         # it has copies that the crop check confirms
