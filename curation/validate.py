"""Decode an image fully and normalise it to upright 8-bit RGB, or reject it with a reason.

EXIF orientation is applied; CMYK/YCCK, palette, 16-bit, greyscale and alpha images (composited on
white) become RGB; animated images give their first frame. Size limits are configurable.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from curation.errors import Rejected
from workspace.imagecheck import DEFAULT_MAX_PIXELS, PILLOW_FAILURES, failure_reason, use_pixel_limit


@dataclass(frozen=True)
class ValidationLimits:
    min_side: int = 32
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_aspect: float = 6.0


@dataclass(frozen=True)
class Decoded:
    """A decoded image with what its header said: the stored size (before draft scaling and
    EXIF rotation) and the frame count (ingest's check records both without opening it again)."""

    image: Image.Image  # upright 8-bit RGB
    size: tuple[int, int]
    frames: int = 1


def open_normalized(path: Path, limits: ValidationLimits, draft: int | None = None) -> Image.Image:
    """The image as upright RGB; `draft` lets JPEG decode at a reduced scale (fast)."""
    return decode(path, limits, draft).image


def decode(path: Path, limits: ValidationLimits, draft: int | None = None) -> Decoded:
    """The image as upright RGB, with its stored size and frame count. With `draft`, a JPEG is
    decoded by DCT scaling straight to the smallest scale whose sides are still >= draft: the
    whole file is still read and checked, at a fraction of the cost."""
    use_pixel_limit(limits.max_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
            width, height = image.size
            if width * height > limits.max_pixels:
                raise Rejected("decompression_bomb", f"{width}x{height}")
            if min(width, height) < limits.min_side:
                raise Rejected("too_small", f"{width}x{height}")
            if max(width, height) / max(1, min(width, height)) > limits.max_aspect:
                raise Rejected("odd_aspect", f"{width}x{height}")
            frames = int(getattr(image, "n_frames", 1) or 1)
            if draft and image.format == "JPEG":
                image.draft("RGB", (draft, draft))
            image.seek(0)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # a returned copy of an upright image cost ~0.15 ms
            return Decoded(to_rgb(image), (width, height), frames)
        except PILLOW_FAILURES as exc:
            raise Rejected(*failure_reason(exc)) from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = array.max() or 1.0
        scale = 255.0 / (65535.0 if top > 255 else 255.0)
        return Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode == "P":
        return image.convert("RGB")
    if mode in ("LA", "La", "PA") or image.mode in ("RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # CMYK (incl. YCCK decoded by Pillow), L, 1, YCbCr, LAB, HSV
