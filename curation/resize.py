"""Resize one image into the curated layout. Pillow's JPEG draft mode decodes big JPEGs at a
reduced scale first (fast); modes: center-crop, pad, keep-ratio, stretch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from curation.validate import Box, ValidationLimits, decode

RESIZE_MODES = ("center-crop", "pad", "keep-ratio", "stretch")
RESAMPLE = Image.Resampling.BICUBIC  # cheaper filters lose 1-3 dB after the JPEG encode (bench.resize_quality)
OUTPUT_VERSION = 2  # bump when the same source and spec make a different output: cached ones are then not used
FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class ResizeSpec:
    size: int
    mode: str = "center-crop"
    format: str = "jpg"
    quality: int = 90


def spec_problem(spec: ResizeSpec) -> str | None:
    """What stops these output settings from being made, in curate's words; None when nothing.
    Curate refuses on it; ingest, which only caches outputs for curate, skips the cache."""
    if not 16 <= spec.size <= 4096:
        return f"--size must be between 16 and 4096, got {spec.size}"
    if spec.mode not in RESIZE_MODES:
        return f"--resize-mode must be one of {', '.join(RESIZE_MODES)}, got {spec.mode!r}"
    if spec.format not in FORMATS:
        return f"--format must be one of {', '.join(FORMATS)}, got {spec.format!r}"
    return None


def resize_image(image: Image.Image, spec: ResizeSpec, content: Box | None = None,
                 resample: Image.Resampling = RESAMPLE) -> Image.Image:
    """An RGB image fitted to spec.size by spec.mode. `content` is the part of `image` that holds
    the picture (a drafted JPEG's, `Decoded.content`); the whole image when None."""
    left, top, right, bottom = content or (0, 0, image.width, image.height)
    width, height, side = right - left, bottom - top, spec.size
    if spec.mode == "center-crop":  # ImageOps.fit's centred crop, on the picture's own extent
        crop = min(width, height)
        x, y = left + (width - crop) / 2, top + (height - crop) / 2
        return image.resize((side, side), resample, box=(x, y, x + crop, y + crop))
    if spec.mode == "stretch":
        return image.resize((side, side), resample, box=(left, top, right, bottom))
    fitted = image.resize(_within(width, height, side), resample, box=(left, top, right, bottom))
    if spec.mode == "keep-ratio" or fitted.size == (side, side):
        return fitted
    padded = Image.new(fitted.mode, (side, side), (0, 0, 0))  # pad: ImageOps.pad's placement
    padded.paste(fitted, (round((side - fitted.width) / 2), round((side - fitted.height) / 2)))
    return padded


def _within(width: float, height: float, side: int) -> tuple[int, int]:
    """The size whose longest side is `side`, with the picture's aspect (ImageOps.contain's rounding)."""
    if width >= height:
        return side, max(1, round(height / width * side))
    return max(1, round(width / height * side)), side


def decode_side(spec: ResizeSpec) -> int:
    """The draft size a source is decoded to for this output: the output side itself. JPEG's
    DCT scaling then does the bulk of the reduction (a proper low-pass, not a pixel skip) and
    leaves between 1x and 2x the output for the final resample; decoding at 2x made that resample
    the costliest step of curate."""
    return spec.size


def cached_output(cache_root: Path, image_id: str, spec: ResizeSpec) -> Path:
    """Where analysis leaves an image's resized output for the split/resize pass to move into
    place, keyed by every setting the output depends on."""
    return cache_root / f"v{OUTPUT_VERSION}-{spec.size}-{spec.mode}-q{spec.quality}" / f"{image_id}.{spec.format}"


def write_resized(source: Path, dest: Path, spec: ResizeSpec, limits: ValidationLimits) -> None:
    """Decode (draft), resize, encode to a temp name, rename: never a partial file in place."""
    decoded = decode(source, limits, draft=decode_side(spec))
    save_output(decoded.image, dest, spec, decoded.content)


def save_output(image: Image.Image, dest: Path, spec: ResizeSpec, content: Box | None = None) -> None:
    """Resize a decoded image by `spec` and write it atomically to `dest`."""
    out = resize_image(image, spec, content)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    options = {"quality": spec.quality} if spec.format in ("jpg", "webp") else {}
    try:
        out.save(tmp, FORMATS[spec.format], **options)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk or an encoder error leaves no partial file behind
        raise
