"""One way to turn an image file into model input, used by training, evaluation, prediction and
pseudo-labelling alike, and saved with every run so a model is always fed as it was trained.

The spec works on the stored original (not the curated copy): upright RGB (EXIF applied, any
Pillow mode normalised), JPEG draft decoding to at least twice the input size, then a centre crop
(or a pad) to a square with one resampling filter, cut from the picture's own extent (since
SPEC_VERSION 2: a drafted side rounded up holds a strip of the encoder's edge padding; a run saved
with version 1 is still fed the whole drafted image, as it was trained). Pixels stay 0-255:
scaling belongs to the model's own layers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from training.errors import TrainingError

INPUT_MODES = ("center-crop", "pad")
RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
SPEC_VERSION = 2  # bump when load_input changes what it returns for the same spec (and keep the old way)


@dataclass(frozen=True)
class InputSpec:
    """How a file becomes an (size, size, channels) uint8 array."""

    size: int
    channels: int = 3
    mode: str = "center-crop"
    resample: str = "bicubic"
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        if self.mode not in INPUT_MODES:
            raise TrainingError(f"input mode must be one of {', '.join(INPUT_MODES)}, got {self.mode!r}")
        if self.resample not in RESAMPLING:
            raise TrainingError(f"resampling must be one of {', '.join(RESAMPLING)}, got {self.resample!r}")
        if self.channels not in (1, 3):
            raise TrainingError(f"channels must be 1 or 3, got {self.channels}")

    def key(self) -> str:
        """A short stable fingerprint (cache keys, run files)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict) -> InputSpec:
        known = {k: data[k] for k in ("size", "channels", "mode", "resample", "version") if k in data}
        return cls(**{"version": 1, **known})  # a spec saved without a version is from version 1


def load_image(path: Path, spec: InputSpec) -> Image.Image:
    """The file as a square RGB/L image of spec.size; TrainingError for unreadable files."""
    from curation.errors import Rejected
    from curation.resize import ResizeSpec, resize_image
    from curation.validate import ValidationLimits, decode

    if not Path(path).is_file():
        raise TrainingError("file not found")
    try:
        decoded = decode(Path(path), ValidationLimits(min_side=1, max_pixels=2_000_000_000, max_aspect=1000),
                         draft=spec.size * 2)
    except Rejected as exc:
        raise TrainingError(f"unreadable image ({exc.reason})") from None
    filt = RESAMPLING[spec.resample]
    if spec.version >= 2:
        image = resize_image(decoded.image, ResizeSpec(spec.size, spec.mode), decoded.content, filt)
    else:
        image = _version_1(decoded.image, spec.size, spec.mode, filt)
    return image.convert("L") if spec.channels == 1 else image


def _version_1(image: Image.Image, size: int, mode: str, filt: Image.Resampling) -> Image.Image:
    """SPEC_VERSION 1's fit: the whole drafted image, its padded edge included."""
    if mode == "pad":
        return ImageOps.pad(image, (size, size), filt, color=(0, 0, 0))
    return ImageOps.fit(image, (size, size), filt)


def load_input(path: Path, spec: InputSpec) -> np.ndarray:
    """(size, size, channels) uint8: the exact array every stage feeds the model."""
    array = np.asarray(load_image(path, spec), dtype=np.uint8)
    return array[..., None] if spec.channels == 1 else array


def load_batch(paths: list[Path], spec: InputSpec) -> tuple[np.ndarray, list[int], dict[int, str]]:
    """Arrays for the readable files, their row numbers, and {row: error} for the others."""
    arrays, rows, errors = [], [], {}
    for row, path in enumerate(paths):
        try:
            arrays.append(load_input(path, spec))
            rows.append(row)
        except TrainingError as exc:
            errors[row] = str(exc)
    shape = (0, spec.size, spec.size, spec.channels)
    return (np.stack(arrays) if arrays else np.zeros(shape, np.uint8)), rows, errors
