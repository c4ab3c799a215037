"""A new analysis version reaches images analysed before it: catalog migration 10 sends them back,
and the next curate analyses them again, so stored hashes are all made the same way."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
from PIL import Image

from curation.pipeline import CurateConfig, curate
from curation.validate import ValidationLimits
from curation.workers import analyse
from workspace.importer import import_labelled
from workspace.layout import Workspace, init_workspace

CLASSES = ["a", "b"]
STALE = "0123456789abcdef"


def textured_jpeg(seed: int) -> bytes:
    """A distinct photo-like JPEG, larger than the analysis size (it is shrunk before hashing)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small, "RGB").resize((600, 400), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def curated_workspace(tmp_path: Path) -> Workspace:
    for k, name in enumerate(CLASSES * 4):
        folder = tmp_path / "src" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{k}.jpg").write_bytes(textured_jpeg(k))
    ws = init_workspace(tmp_path / "ws", CLASSES).workspace
    import_labelled(ws, tmp_path / "src")
    assert curate(ws, CurateConfig(size=48, seed=5, workers=1)).analysed == 8
    return ws


def as_before_version_2(ws: Workspace) -> None:
    """The catalog as the previous version left it: migration 10 not applied, hashes of the old
    analysis stored (stood for here by one stale value)."""
    with sqlite3.connect(ws.catalog_path) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 10")
        conn.execute("UPDATE images SET phash = ?", (STALE,))


def test_images_analysed_by_an_earlier_version_are_analysed_again(tmp_path: Path) -> None:
    ws = curated_workspace(tmp_path)
    as_before_version_2(ws)
    assert curate(ws, CurateConfig(size=48, seed=5, workers=1)).analysed == 8
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT path, phash, thumb FROM images")
        assert catalog.scalar("SELECT COUNT(*) FROM schema_migrations WHERE version = 10") == 1
    assert len(rows) == 8
    for row in rows:
        fresh = analyse(f"x\0{ws.root / row['path']}", ValidationLimits())
        assert row["phash"] == fresh.signature.hashes.phash != STALE
        assert row["thumb"] == fresh.signature.thumb


def test_the_migration_applies_once_then_curate_reuses_the_analysis(tmp_path: Path) -> None:
    ws = curated_workspace(tmp_path)
    assert curate(ws, CurateConfig(size=48, seed=5, workers=1)).analysed == 0
