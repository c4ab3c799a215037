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


def write_resized(source: Path, dest: Path, spec: ResizeSpec, limits: ValidationLimits) -> None:
    """Decode (draft), resize, encode to a temp name, rename: never a partial file in place."""
    image = open_normalized(source, limits, draft=spec.size * 2)
    out = resize_image(image, spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    options = {"quality": spec.quality} if spec.format in ("jpg", "webp") else {}
    out.save(tmp, FORMATS[spec.format], **options)
    os.replace(tmp, dest)
