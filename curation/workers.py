"""Per-image work done in worker processes. Kept apart from the pipeline so that a spawned
worker imports only Pillow and numpy, not scikit-learn, scipy and the catalog code.

Analysis decodes each image once (JPEG draft, to the largest size any consumer needs) and makes
everything from that one image: the quality flags and all hashes from one small greyscale copy,
and, when curate passes its resize settings, the resized output, cached for the split/resize
pass, which then moves it into place instead of decoding the original again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from curation.errors import Rejected
from curation.hashing import Signature, signature
from curation.quality import ANALYSIS_SIDE, QualityThresholds, grey_copy, quality_flags
from curation.resize import ResizeSpec, decode_side, save_output, write_resized
from curation.validate import Box, ValidationLimits, decode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Analysis:
    id: str
    reason: str | None
    flags: tuple[str, ...] = ()
    signature: Signature | None = None
    size: tuple[int, int] | None = None  # the stored size and frame count, as the header said
    frames: int = 1


def analyse(path: str, limits: ValidationLimits, spec: ResizeSpec | None = None) -> Analysis:
    """Decode, normalise, flag, hash and thumbnail one stored image (runs in a worker process).
    `path` is "id\\0file"; with `spec` it is "id\\0file\\0cached output", written here too."""
    image_id, file_path, *cache = path.split("\0")
    try:
        decoded = decode(Path(file_path), limits, draft=max(ANALYSIS_SIDE, decode_side(spec) if spec else 0))
        if spec and cache:
            _cache_output(decoded.image, Path(cache[0]), spec, decoded.content)
        grey = analysis_copy(decoded.image)
        flags = tuple(quality_flags(decoded.image, decoded.size, QualityThresholds(), grey))
        return Analysis(image_id, None, flags, signature(grey), decoded.size, decoded.frames)
    except Rejected as exc:
        return Analysis(image_id, exc.reason)
    except OSError as exc:
        return Analysis(image_id, "unreadable" if isinstance(exc, FileNotFoundError) else "decode_error")


def analysis_copy(image: Image.Image) -> Image.Image:
    """The greyscale copy (<= ANALYSIS_SIDE) that the hashes, the thumbnail and all quality
    statistics but colour are made from (since ANALYSIS_VERSION 2; an RGB copy before)."""
    return grey_copy(image)


def _cache_output(image: Image.Image, dest: Path, spec: ResizeSpec, content: Box | None) -> None:
    """The resized output, kept for the split/resize pass; a failure here only costs that pass
    a decode (it falls back to the original), never the image."""
    try:
        save_output(image, dest, spec, content)
    except (OSError, ValueError) as exc:
        log.warning("could not cache the resized output %s: %s", dest, exc)


def open_for_analysis(path: Path, limits: ValidationLimits) -> tuple[Image.Image, tuple[int, int]]:
    """The image's analysis copy (upright greyscale, <= ANALYSIS_SIDE) and its full size."""
    decoded = decode(path, limits, draft=ANALYSIS_SIDE)
    return analysis_copy(decoded.image), decoded.size


def resize_job(job: str, spec: ResizeSpec, limits: ValidationLimits) -> tuple[str, str | None]:
    """Decode, resize and write one curated file: "id\\0source\\0dest[\\0cached output]"."""
    image_id, source, dest, *_ = job.split("\0")
    try:
        write_resized(Path(source), Path(dest), spec, limits)
        return image_id, None
    except Rejected as exc:
        return image_id, exc.reason
    except OSError:
        return image_id, "decode_error"


def place_cached(job: str) -> bool:
    """Move the output cached at analysis into place for a resize job ("id\\0source\\0dest\\0cached
    output"); False when there is none (then resize_job decodes the source)."""
    _, _, dest, *cache = job.split("\0")
    if not cache:
        return False
    cached, dest = Path(cache[0]), Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        cached.replace(dest)
        return True
    except FileNotFoundError:
        return False
