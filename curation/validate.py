"""Decode an image fully and normalise it to upright 8-bit RGB, or reject it with a reason.

EXIF orientation is applied; CMYK/YCCK, palette, 16-bit, greyscale and alpha images (composited on
white) become RGB; animated images give their first frame. Size limits are configurable.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
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
    content: Box | None = None  # where the picture lies in `image`, when not its whole extent


Box = tuple[float, float, float, float]  # left, top, right, bottom, in pixels (fractions allowed)

# EXIF orientation -> where a box at the top left of a (width, height) image lands once
# ImageOps.exif_transpose has turned it upright (2-4 mirror or turn in place, 5-8 swap the axes)
_UPRIGHT: dict[int, Callable[[float, float, int, int], Box]] = {
    2: lambda w, h, W, H: (W - w, 0, W, h),
    3: lambda w, h, W, H: (W - w, H - h, W, H),
    4: lambda w, h, W, H: (0, H - h, w, H),
    5: lambda w, h, W, H: (0, 0, h, w),
    6: lambda w, h, W, H: (H - h, 0, H, w),
    7: lambda w, h, W, H: (H - h, W - w, H, W),
    8: lambda w, h, W, H: (0, W - w, h, W),
}


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
            content = None
            if draft and image.format == "JPEG":
                content = drafted_content(image, draft)
            image.seek(0)
            image.load()
            if content is not None:
                content = upright_box(content, image.size, image.getexif().get(ORIENTATION, 1))
            ImageOps.exif_transpose(image, in_place=True)  # a returned copy of an upright image cost ~0.15 ms
            return Decoded(to_rgb(image), (width, height), frames, content)
        except PILLOW_FAILURES as exc:
            raise Rejected(*failure_reason(exc)) from None


ORIENTATION = 0x0112  # the EXIF tag


def drafted_content(image: Image.Image, side: int) -> Box | None:
    """Ask for DCT scaling to the smallest scale whose sides are still >= `side`; the box the
    picture fills at that scale, or None when it is not scaled. A side that is not a multiple of
    the scale is rounded up, so the last column or row is partly the encoder's edge padding:
    resizing the whole drafted image stretched and shifted every output (up to ~6 dB of PSNR on
    the bench photos, bench.resize_quality)."""
    drafted = image.draft("RGB", (side, side))
    if drafted is None:
        return None
    box = drafted[1]
    return None if (box[2], box[3]) == image.size else box


def upright_box(box: Box, size: tuple[int, int], orientation: object) -> Box:
    """`box` (at the top left of a stored image of `size`) where exif_transpose will put it."""
    turn = _UPRIGHT.get(orientation) if isinstance(orientation, int) else None
    width, height = box[2] - box[0], box[3] - box[1]
    return turn(width, height, *size) if turn else box


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
