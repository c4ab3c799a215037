"""Quality flags from cheap statistics on a small greyscale copy. Flags are recorded; which of
them reject an image is configurable (by default only images with almost no information)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

ALL_FLAGS = ("too_small", "odd_aspect", "blurry", "too_dark", "too_light", "grayscale", "low_information")


@dataclass(frozen=True)
class QualityThresholds:
    small_side: int = 96          # flag below this (validation rejects below its min_side)
    odd_aspect: float = 2.5
    blur_variance: float = 25.0   # variance of the Laplacian on a 256 px copy
    dark_mean: float = 30.0
    light_mean: float = 230.0
    gray_chroma: float = 4.0      # mean |R-G|+|G-B| below this is greyscale
    min_std: float = 6.0          # below this, the picture is almost flat
    min_entropy: float = 1.5       # near-blank; dark backgrounds with a subject stay


def quality_flags(image: Image.Image, original_size: tuple[int, int], t: QualityThresholds,
                  grey: Image.Image | None = None) -> list[str]:
    """Flags for an RGB image whose original (pre-draft) size is `original_size`; `grey` is its
    greyscale copy when the caller has one (images of at most 256 px are used as they are)."""
    flags = []
    width, height = original_size
    if min(width, height) < t.small_side:
        flags.append("too_small")
    if max(width, height) / max(1, min(width, height)) > t.odd_aspect:
        flags.append("odd_aspect")
    small = image
    if max(image.size) > 256 or grey is None:
        small = image.copy()
        small.thumbnail((256, 256))
        grey = small.convert("L")
    gray = np.asarray(grey, dtype=np.float32)
    if laplacian(grey).var() < t.blur_variance:
        flags.append("blurry")
    mean = float(gray.mean())
    if mean < t.dark_mean:
        flags.append("too_dark")
    if mean > t.light_mean:
        flags.append("too_light")
    rgb = np.asarray(small, dtype=np.int16)
    chroma = np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean()
    if chroma < t.gray_chroma:
        flags.append("grayscale")
    histogram = np.bincount(gray.astype(np.uint8).ravel(), minlength=256) / gray.size
    entropy = float(-(histogram[histogram > 0] * np.log2(histogram[histogram > 0])).sum())
    if gray.std() < t.min_std or entropy < t.min_entropy:
        flags.append("low_information")
    return flags


def laplacian(grey: Image.Image) -> np.ndarray:
    """The 4-neighbour Laplacian of the interior pixels, as float32, exactly what Pillow's 3x3
    Kernel filter (offset 128, 8-bit output) gave, which clips it to -128..127 and leaves the
    1-pixel border unfiltered; in numpy, ~2x faster."""
    g = np.asarray(grey, dtype=np.int16)
    centre = g[1:-1, 1:-1]
    total = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * centre
    return np.clip(total, -128, 127).astype(np.float32)
