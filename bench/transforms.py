"""Known near-duplicate copies of a photo, for the quality and leakage benchmarks."""
from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from bench import common


def _resize(im: Image.Image, rng: random.Random) -> Image.Image:
    scale = rng.uniform(0.4, 0.7)
    return im.resize((max(32, round(im.width * scale)), max(32, round(im.height * scale))), Image.Resampling.LANCZOS)


def _crop(im: Image.Image, rng: random.Random) -> Image.Image:
    share = rng.uniform(0.03, 0.10)          # up to 10 % of each side in total
    dx, dy = round(im.width * share), round(im.height * share)
    left, top = rng.randint(0, dx), rng.randint(0, dy)
    return im.crop((left, top, im.width - (dx - left), im.height - (dy - top)))


def _crop_large(im: Image.Image, rng: random.Random) -> Image.Image:
    """10-15 % cut from the edges (issue 14: the misses of the earlier rule)."""
    share = rng.uniform(0.10, 0.15)
    dx, dy = round(im.width * share), round(im.height * share)
    left, top = rng.randint(0, dx), rng.randint(0, dy)
    return im.crop((left, top, im.width - (dx - left), im.height - (dy - top)))


def _brightness(im: Image.Image, rng: random.Random) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(rng.choice([0.8, 0.85, 1.15, 1.2]))


def _overlay(im: Image.Image, rng: random.Random) -> Image.Image:
    out = im.copy()
    size = max(10, im.height // 16)
    font = ImageFont.load_default(size=size)
    ImageDraw.Draw(out).text((size // 2, im.height - 2 * size), "(c) harvest 2026", fill=(255, 255, 255), font=font)
    return out


TRANSFORMS: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "resize": _resize,
    "jpeg30": lambda im, rng: im,            # the transform is the save quality below
    "crop": _crop,
    "crop_large": _crop_large,
    "brightness": _brightness,
    "overlay": _overlay,
    "flip": lambda im, rng: ImageOps.mirror(im),
    "grayscale": lambda im, rng: ImageOps.grayscale(im).convert("RGB"),
}


def distinct_sources(count: int, min_distance: int = 16) -> list[Path]:
    """Photos none of which is within `min_distance` pHash bits of another, so real burst shots
    in the shared set do not blur the known groups. Uses the cached hashes when present."""
    from bench.dedupe_speed import CACHE_HASHES

    photos = common.flower_photos()
    cached = np.load(CACHE_HASHES) if CACHE_HASHES.exists() else None
    picked: list[int] = []
    values: list[int] = []
    for i, photo in enumerate(photos):
        value = int(cached[i]) if cached is not None else _phash(photo)
        if all((value ^ other).bit_count() > min_distance for other in values):
            picked.append(i)
            values.append(value)
        if len(picked) == count:
            break
    return [photos[i] for i in picked]


def _phash(path: Path) -> int:
    import imagehash

    with Image.open(path) as im:
        return int(str(imagehash.phash(im.convert("RGB"))), 16)


def open_upright(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def write_group(source: Path, dest_dir: Path, stem: str, rng: random.Random) -> list[Path]:
    """The original (re-saved) and one copy per transform; returns the written files."""
    image = open_upright(source)
    written = []
    original = dest_dir / f"{stem}_original.jpg"
    image.save(original, "JPEG", quality=92)
    written.append(original)
    for name, transform in TRANSFORMS.items():
        path = dest_dir / f"{stem}_{name}.jpg"
        transform(image, rng).save(path, "JPEG", quality=30 if name == "jpeg30" else 90)
        written.append(path)
    return written
