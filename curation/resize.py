"""Resize one image into the curated layout. Pillow's JPEG draft mode decodes big JPEGs at a
reduced scale first (fast); modes: center-crop, pad, keep-ratio, stretch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from curation.validate import ValidationLimits, open_normalized

RESIZE_MODES = ("center-crop", "pad", "keep-ratio", "stretch")
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


def resize_image(image: Image.Image, spec: ResizeSpec) -> Image.Image:
    """An RGB image fitted to spec.size by spec.mode."""
    box = (spec.size, spec.size)
    if spec.mode == "center-crop":
        return ImageOps.fit(image, box, Image.Resampling.BICUBIC)
    if spec.mode == "pad":
        return ImageOps.pad(image, box, Image.Resampling.BICUBIC, color=(0, 0, 0))
    if spec.mode == "stretch":
        return image.resize(box, Image.Resampling.BICUBIC)
    copy = image.copy()  # keep-ratio: longest side = size
    scale = spec.size / max(copy.size)
    return copy.resize((max(1, round(copy.width * scale)), max(1, round(copy.height * scale))),
                       Image.Resampling.BICUBIC)


def decode_side(spec: ResizeSpec) -> int:
    """The draft size a source is decoded to for this output: the output side itself. JPEG's
    DCT scaling then does the bulk of the reduction (a proper low-pass, not a pixel skip) and
    leaves between 1x and 2x the output for the final resample; decoding at 2x made that resample
    the costliest step of curate."""
    return spec.size


def cached_output(cache_root: Path, image_id: str, spec: ResizeSpec) -> Path:
    """Where analysis leaves an image's resized output for the split/resize pass to move into
    place, keyed by every setting the output depends on."""
    return cache_root / f"{spec.size}-{spec.mode}-q{spec.quality}" / f"{image_id}.{spec.format}"


def write_resized(source: Path, dest: Path, spec: ResizeSpec, limits: ValidationLimits) -> None:
    """Decode (draft), resize, encode to a temp name, rename: never a partial file in place."""
    save_output(open_normalized(source, limits, draft=decode_side(spec)), dest, spec)


def save_output(image: Image.Image, dest: Path, spec: ResizeSpec) -> None:
    """Resize a decoded image by `spec` and write it atomically to `dest`."""
    out = resize_image(image, spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    options = {"quality": spec.quality} if spec.format in ("jpg", "webp") else {}
    try:
        out.save(tmp, FORMATS[spec.format], **options)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk or an encoder error leaves no partial file behind
        raise
