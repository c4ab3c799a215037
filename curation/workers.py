"""Per-image work done in worker processes. Kept apart from the pipeline so that a spawned
worker imports only Pillow/imagehash/numpy, not scikit-learn and the catalog code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from curation.errors import Rejected
from curation.hashing import Signature, signature
from curation.quality import QualityThresholds, quality_flags
from curation.resize import ResizeSpec, write_resized
from curation.validate import ValidationLimits, open_normalized

ANALYSIS_SIDE = 256  # hashes need 32 px and the quality statistics 256 px: decode no more


@dataclass(frozen=True)
class Analysis:
    id: str
    reason: str | None
    flags: tuple[str, ...] = ()
    signature: Signature | None = None


def analyse(path: str, limits: ValidationLimits) -> Analysis:
    """Decode, normalise, flag, hash and thumbnail one stored image (runs in a worker process)."""
    image_id, file_path = path.split("\0", 1)
    try:
        image, size = open_for_analysis(Path(file_path), limits)
        return Analysis(image_id, None, tuple(quality_flags(image, size, QualityThresholds())), signature(image))
    except Rejected as exc:
        return Analysis(image_id, exc.reason)
    except OSError as exc:
        return Analysis(image_id, "unreadable" if isinstance(exc, FileNotFoundError) else "decode_error")


def open_for_analysis(path: Path, limits: ValidationLimits) -> tuple[Image.Image, tuple[int, int]]:
    """The image at analysis size (upright RGB, <= ANALYSIS_SIDE) and its full size."""
    with Image.open(path) as header:
        size = header.size
    image = open_normalized(path, limits, draft=ANALYSIS_SIDE)
    image.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE), Image.Resampling.BILINEAR)
    return image, size


def resize_job(job: str, spec: ResizeSpec, limits: ValidationLimits) -> tuple[str, str | None]:
    image_id, source, dest = job.split("\0")
    try:
        write_resized(Path(source), Path(dest), spec, limits)
        return image_id, None
    except Rejected as exc:
        return image_id, exc.reason
    except OSError:
        return image_id, "decode_error"


