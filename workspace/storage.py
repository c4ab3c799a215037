"""Content-addressed storage under DIR/raw and the one ingest path every image takes.

A file is hashed, checked, written under a temp name in DIR/tmp and renamed into
DIR/raw/<ab>/<sha256>.<ext>; only then is its catalog row written. Names never come from a URL
or a header. Killing the process at any point leaves either nothing or a complete blob that
the next run of the same input reuses.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

from workspace.catalog import Catalog, utc_now
from workspace.imagecheck import DEFAULT_MAX_PIXELS, ImageInfo, InvalidImage, inspect_image
from workspace.images import ImageStatus, arrival_status, label_source
from workspace.layout import Workspace

log = logging.getLogger(__name__)

CHUNK = 1 << 20


@dataclass(frozen=True)
class IngestMeta:
    """Where an image came from and what we believe its label is."""

    source: str                    # download URL, or the original file path for imports
    class_name: str | None         # None for unlabelled pool images
    label_source: str              # a workspace.images.LabelSource value
    page_url: str | None = None
    query: str | None = None
    engine: str | None = None
    candidate_id: int | None = None
    round: int | None = None
    confidence: float | None = None

    def __post_init__(self) -> None:
        label_source(self.label_source)  # an unknown one raises before anything is stored


@dataclass(frozen=True)
class IngestResult:
    image_id: str
    status: str                    # stored | unlabelled | duplicate | rejected
    reason: str | None
    new: bool                      # False when this (content, source) was already recorded


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def blob_relpath(sha256: str, ext: str) -> str:
    return f"raw/{sha256[:2]}/{sha256}.{ext}"


def temp_path(ws: Workspace) -> Path:
    """A fresh temp file name inside the workspace (same filesystem as raw/, so rename is atomic)."""
    ws.tmp_dir.mkdir(parents=True, exist_ok=True)
    return ws.tmp_dir / f"{os.getpid()}-{uuid.uuid4().hex}.part"


def place_blob(ws: Workspace, tmp: Path, sha256: str, ext: str) -> str:
    """Rename a complete temp file into content-addressed storage; returns its relpath."""
    rel = blob_relpath(sha256, ext)
    final = ws.root / rel
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        tmp.unlink(missing_ok=True)
    else:
        os.replace(tmp, final)
    return rel


def derived_id(sha256: str, source: str) -> str:
    """Id of a row whose bytes are already recorded under another source: stable, unique."""
    return hashlib.sha256(f"{sha256}\0{source}".encode()).hexdigest()[:16]


def copy_to_temp(ws: Workspace, source: Path) -> tuple[Path, str]:
    """Copy a file into DIR/tmp, hashing the bytes actually copied (a file that changes while
    being read is stored as what was read, under the hash of what was read)."""
    tmp = temp_path(ws)
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest()


def ingest_file(
    ws: Workspace,
    catalog: Catalog,
    path: Path,
    meta: IngestMeta,
    *,
    move: bool = False,
    sha256: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> IngestResult:
    """Record one file in the catalog (storing it when valid). Idempotent per (content, source).

    `move=True` consumes `path` (a downloader temp file); otherwise the file is first copied into
    DIR/tmp and everything (hash, checks, storage) works on that copy. `sha256`, when given, is
    the caller's hash of the source, used to skip files already recorded without copying them.
    """
    if sha256 is not None:
        existing = _existing(catalog, sha256, meta.source)
        if existing:
            return existing
    if move:
        work, sha = path, sha256_file(path)
    else:
        work, sha = copy_to_temp(ws, path)
    try:
        existing = _existing(catalog, sha, meta.source)
        if existing:
            return existing
        size = work.stat().st_size
        info: ImageInfo | None = None
        reason: str | None = None
        try:
            info = inspect_image(work, max_pixels=max_pixels)
        except InvalidImage as exc:
            reason = exc.reason
        rel = place_blob(ws, work, sha, info.ext) if info is not None else None
        return _record(catalog, sha, size, rel, info, reason, meta)
    finally:
        work.unlink(missing_ok=True)


def _existing(catalog: Catalog, sha: str, source: str) -> IngestResult | None:
    row = catalog.one("SELECT id, status, reason FROM images WHERE sha256 = ? AND source = ?", (sha, source))
    return IngestResult(row["id"], row["status"], row["reason"], new=False) if row else None


def _record(
    catalog: Catalog, sha: str, size: int, rel: str | None, info: ImageInfo | None,
    reason: str | None, meta: IngestMeta,
) -> IngestResult:
    with catalog.transaction() as conn:
        return record_in(conn, sha, size, rel, info, reason, meta)


def record_in(
    conn: sqlite3.Connection, sha: str, size: int, rel: str | None, info: ImageInfo | None,
    reason: str | None, meta: IngestMeta,
) -> IngestResult:
    """The row of one checked file, inside the caller's write transaction (the downloader
    records a batch of fates in one); idempotent per (content, source)."""
    row = conn.execute(
        "SELECT id, status, reason FROM images WHERE sha256 = ? AND source = ?", (sha, meta.source)
    ).fetchone()
    if row:  # another process (or an earlier fate of the batch) recorded it
        return IngestResult(row["id"], row["status"], row["reason"], new=False)
    first = conn.execute(
        "SELECT id FROM images WHERE sha256 = ? AND path IS NOT NULL ORDER BY added_at LIMIT 1",
        (sha,),
    ).fetchone()
    taken = conn.execute("SELECT 1 FROM images WHERE id = ?", (sha[:16],)).fetchone()
    image_id = sha[:16] if not taken else derived_id(sha, meta.source)
    duplicate_of = None
    if reason is not None:
        status = ImageStatus.REJECTED
    elif first is not None:
        status, reason, duplicate_of = ImageStatus.DUPLICATE, "exact_duplicate", first["id"]
    else:  # candidates of a self-training round and pool images wait to be judged
        status = arrival_status(meta.class_name, meta.label_source)
    _insert(conn, image_id, sha, size, rel, info, status, reason, duplicate_of, meta)
    return IngestResult(image_id, status, reason, new=True)


def _insert(
    conn: sqlite3.Connection, image_id: str, sha: str, size: int, rel: str | None,
    info: ImageInfo | None, status: str, reason: str | None, duplicate_of: str | None,
    meta: IngestMeta,
) -> None:
    conn.execute(
        "INSERT INTO images (id, sha256, path, class, source, page_url, query, engine, candidate_id,"
        " status, reason, width, height, format, bytes, phash, label_source, confidence, round,"
        " duplicate_of, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            image_id, sha, rel, meta.class_name, meta.source, meta.page_url, meta.query,
            meta.engine, meta.candidate_id, status, reason,
            info.width if info else None, info.height if info else None,
            info.format if info else None, size, info.phash if info else None,
            meta.label_source, meta.confidence, meta.round,
            duplicate_of, utc_now(),
        ),
    )


def clean_temp(ws: Workspace) -> int:
    """Remove partial files left by processes that are gone; returns how many were removed."""
    removed = 0
    if ws.tmp_dir.is_dir():
        for part in ws.tmp_dir.glob("*.part"):
            pid = part.name.split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid)):
                continue
            part.unlink(missing_ok=True)
            removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
