"""A low-variance image domain for the duplicate benchmarks and tests: scikit-learn's bundled
handwritten digits (1,797 of them, 8x8, offline), upscaled to 64 px grey JPEGs, one folder per
digit. Centred strokes on a plain background hash close by chance, like product shots, X-rays or
logos. Planted copies (resize, JPEG, brightness) are known duplicates of their source."""
from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

SIDE = 64
COPY_KINDS = ("resize", "jpeg", "brightness")


def digit_images(limit_per_class: int | None = None) -> list[tuple[str, Image.Image]]:
    """(class name, 64 px grey image) for the bundled digits, in dataset order."""
    from sklearn.datasets import load_digits

    data = load_digits()
    seen: dict[int, int] = {}
    out = []
    for pixels, target in zip(data.images, data.target):
        seen[int(target)] = seen.get(int(target), 0) + 1
        if limit_per_class and seen[int(target)] > limit_per_class:
            continue
        array = (pixels * (255.0 / 16.0)).astype(np.uint8)
        image = Image.fromarray(array, "L").resize((SIDE, SIDE), Image.Resampling.BICUBIC)
        out.append((f"digit{int(target)}", image))
    return out


def planted_copy(image: Image.Image, kind: str, rng: random.Random) -> tuple[Image.Image, int]:
    """A known duplicate of `image` and the JPEG quality to save it with."""
    if kind == "resize":
        side = rng.choice([40, 48, 96, 128])
        return image.resize((side, side), Image.Resampling.LANCZOS), 90
    if kind == "jpeg":
        return image, rng.choice([30, 40, 50])
    return ImageEnhance.Brightness(image).enhance(rng.choice([0.8, 0.85, 1.15, 1.2])), 90


def write_set(folder: Path, planted_share: float = 0.0, limit_per_class: int | None = None,
              seed: int = 1337) -> dict[str, str]:
    """folder/<class>/*.jpg; returns copy file name -> source file name for the planted copies."""
    rng = random.Random(seed)
    images = digit_images(limit_per_class)
    names = []
    for n, (cls, image) in enumerate(images):
        path = folder / cls / f"{cls}_{n:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, "JPEG", quality=92)
        names.append(path)
    planted: dict[str, str] = {}
    for k, n in enumerate(rng.sample(range(len(images)), round(planted_share * len(images)))):
        kind = COPY_KINDS[k % len(COPY_KINDS)]
        copy, quality = planted_copy(images[n][1], kind, rng)
        path = names[n].with_name(f"{names[n].stem}_copy_{kind}.jpg")
        buffer = io.BytesIO()
        copy.save(buffer, "JPEG", quality=quality)
        path.write_bytes(buffer.getvalue())
        planted[path.name] = names[n].name
    return planted
