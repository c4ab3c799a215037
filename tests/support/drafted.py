"""JPEGs whose sides are not a multiple of the DCT scale they are drafted at, with detail at every
position: a shift or stretch of a fraction of a pixel shows in the PSNR against a full decode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ORIENTATION = 0x0112  # the EXIF tag


def waves(width: int, height: int) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    a = 128 + 60 * np.sin(x * 0.045 + y * 0.02) + 60 * np.sin(x * 0.013 - y * 0.06)
    return Image.fromarray(np.stack([a, a[::-1], 255 - a], -1).clip(0, 255).astype(np.uint8))


def write_waves(path: Path, size: tuple[int, int] = (1181, 779), orientation: int = 1) -> Path:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    waves(*size).save(path, quality=95, exif=exif.tobytes())
    return path


def psnr(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(10 * np.log10(255.0 ** 2 / max(np.mean(diff ** 2), 1e-12)))
