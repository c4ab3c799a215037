"""Curate's analysis made at ingest, from the one decode that also checks the download (issue 21).

A download is checked by decoding it; that decode is `curation.workers.analyse`'s own (JPEG draft
straight to the analysis size), so its result is kept: hashes, flags and thumbnail go into the
image's row with the key of the settings they were made under (`images.ingest_analysis`), and,
when the workspace's curate settings are known, the resized output is cached where curate's
split/resize pass looks for it. Curate then adopts a stored analysis whose key matches its own
instead of decoding the original again, applying its size limits and rejecting flags to it.

Bad input keeps its reasons: the check's reasons are `workspace.imagecheck`'s, and a file that
analysis cannot take is checked by `inspect_image` itself and left for curate to analyse.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from curation.resize import ResizeSpec, cached_output, decode_side, spec_problem
from curation.validate import ValidationLimits
from workspace.catalog import Catalog
from workspace.errors import HarvestError
from workspace.imagecheck import ImageInfo, InvalidImage, inspect_image, sniff_file
from workspace.images import JUDGED_EACH_CURATE, reject, reject_flagged
from workspace.layout import Workspace

if TYPE_CHECKING:  # the crawl process loads the analysis code only to analyse in-thread or unpickle a result
    from curation.pipeline import CurateConfig
    from curation.workers import Analysis

log = logging.getLogger(__name__)

ANALYSIS_VERSION = 2  # bump when analyse() makes different hashes or flags from the same decode, with a
                      # catalog migration that sends analysed images back (workspace.migrations 10)
ANALYSABLE = JUDGED_EACH_CURATE  # the statuses curate analyses


@dataclass(frozen=True)
class Checked:
    """A download's check: `info` when it is a usable image, else the catalog `reason`;
    `analysis` when curate's analysis came out of the same decode."""

    info: ImageInfo | None
    reason: str | None = None
    analysis: Analysis | None = None


def analysis_key(spec: ResizeSpec | None) -> str:
    """The settings an analysis depends on: the analysis version and the draft side decoded to."""
    from curation.workers import ANALYSIS_SIDE

    return f"v{ANALYSIS_VERSION}-draft{max(ANALYSIS_SIDE, decode_side(spec) if spec else 0)}"


def ingest_limits(max_pixels: int) -> ValidationLimits:
    """Ingest refuses only what cannot be decoded or is a bomb; size and aspect are curate's call."""
    return ValidationLimits(min_side=1, max_pixels=max_pixels, max_aspect=float("inf"))


def check_download(path: str, image_id: str, cache: str | None, max_pixels: int,
                   spec: ResizeSpec | None) -> Checked:
    """Check one downloaded file by analysing it (runs in a worker process). With `cache` and
    `spec`, the resized output is written to `cache` from the same decode. The file is opened by
    Pillow once: the format is sniffed from its first bytes, size and frames come from the
    analysis' own open; a file analysis refuses is checked again by `inspect_image` for its reason
    (whatever the header check would have refused, analysis refuses too)."""
    try:
        fmt = sniff_file(Path(path))
    except InvalidImage as exc:
        return Checked(None, exc.reason)
    from curation.workers import analyse

    job = "\0".join([image_id, path, *([cache] if cache and spec else [])])
    try:
        result = analyse(job, ingest_limits(max_pixels), spec if cache else None)
    except Exception:  # noqa: BLE001 - analysis is an extra here: the check below still decides
        log.warning("analysis at ingest failed for %s; curate will analyse it", path, exc_info=True)
        result = None
    if result is None or result.signature is None or result.size is None:
        return _checked_alone(Path(path), max_pixels)
    width, height = result.size
    return Checked(ImageInfo(fmt, width, height, result.frames, result.signature.hashes.phash), None, result)


def _checked_alone(path: Path, max_pixels: int) -> Checked:
    """The plain check, for files analysis refused: the reasons ingest has always recorded."""
    try:
        return Checked(inspect_image(path, max_pixels=max_pixels))
    except InvalidImage as exc:
        return Checked(None, exc.reason)


def workspace_resize_spec(ws: Workspace) -> ResizeSpec | None:
    """The output a plain `curate` of this workspace makes (its image_size and harvest.json's
    curate section, ResizeSpec's defaults being CurateConfig's), or None when those settings are
    not valid (curate refuses them; nothing is cached). Read without importing the pipeline: a
    crawl does not pay for loading curate's dedupe code."""
    try:
        ws_config = ws.config()
    except HarvestError:
        return None
    section = ws_config.section("curate")
    fields = {"size": "size", "resize_mode": "mode", "format": "format", "quality": "quality"}
    values = {field: section[key] for key, field in fields.items() if key in section}
    spec = ResizeSpec(**{"size": ws_config.image_size, **values})
    valid = (isinstance(spec.size, int) and isinstance(spec.quality, int) and spec_problem(spec) is None
             and 1 <= spec.quality <= 100)
    return spec if valid else None


def resized_cache(ws: Workspace) -> Path:
    """The folder of outputs made at analysis (at ingest or curate), waiting for curate's split/resize pass."""
    return ws.tmp_dir / "resized"


def cache_path(ws: Workspace, image_id: str, spec: ResizeSpec) -> Path:
    """Where curate's split/resize pass looks for this image's output."""
    return cached_output(resized_cache(ws), image_id, spec)


def store_analysis(conn: sqlite3.Connection, image_id: str, analysis: Analysis, key: str) -> None:
    """Keep an ingest analysis in the image's row, in the columns curate's analysis writes."""
    assert analysis.signature is not None
    h = analysis.signature.hashes
    conn.execute(
        "UPDATE images SET phash = ?, phash_flip = ?, dhash = ?, dhash_flip = ?, crop_hashes = ?, thumb = ?,"
        " flags = ?, ingest_analysis = ? WHERE id = ?",
        (h.phash, h.phash_flip, h.dhash, h.dhash_flip, analysis.signature.crop_hashes, analysis.signature.thumb,
         ",".join(analysis.flags) or None, key, image_id))


def adopt_ingest_analysis(catalog: Catalog, config: CurateConfig) -> int:
    """Curate's side: take the analyses stored at ingest under this curate's key (a stale key
    sends the image back to be analysed), rejecting by size limits and flags as analysis would.
    Returns how many were adopted."""
    key = analysis_key(config.resize_spec)
    with catalog.transaction() as conn:
        conn.execute("UPDATE images SET thumb = NULL, ingest_analysis = NULL"
                     " WHERE ingest_analysis IS NOT NULL AND ingest_analysis != ?", (key,))
        rows = conn.execute(
            f"SELECT id, width, height, flags FROM images WHERE ingest_analysis = ? AND path IS NOT NULL"
            f" AND status IN ({','.join('?' * len(ANALYSABLE))})", (key, *ANALYSABLE)).fetchall()
        for row in rows:
            _apply_curate_checks(conn, row, config)
        conn.execute("UPDATE images SET ingest_analysis = NULL WHERE ingest_analysis IS NOT NULL")
    return len(rows)


def _apply_curate_checks(conn: sqlite3.Connection, row: sqlite3.Row, config: CurateConfig) -> None:
    """What analysis at curate would have rejected: a size outside the limits, a rejecting flag."""
    too = size_reason(row["width"] or 0, row["height"] or 0, config.limits)
    if too is not None:
        reject(conn, row["id"], too)
        return
    rejecting = [f for f in (row["flags"] or "").split(",") if f in config.reject_flags]
    if rejecting:
        reject_flagged(conn, [(row["id"], rejecting[0])])


def size_reason(width: int, height: int, limits: ValidationLimits) -> str | None:
    """The reason `curation.validate.decode` gives a stored size, in its order; None if it passes."""
    if width * height > limits.max_pixels:
        return "decompression_bomb"
    if min(width, height) < limits.min_side:
        return "too_small"
    if max(width, height) / max(1, min(width, height)) > limits.max_aspect:
        return "odd_aspect"
    return None
