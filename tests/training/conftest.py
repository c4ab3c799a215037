"""A tiny curated workspace for training tests: real photos (downsized) when available, imported
and curated through the real stages, so the catalog says what the dataset is."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageOps

from tests.conftest import SHARED_FLOWERS, make_jpeg
from workspace.layout import init_workspace

PER_CLASS = 20


def make_photos(folder: Path, classes: list[str], per_class: int = PER_CLASS, size: int = 64,
                offset: int = 0) -> Path:
    """`folder/<class>/*.jpg`: the shared flower photos downsized, or generated patterns."""
    for k, name in enumerate(classes):
        real = sorted((SHARED_FLOWERS / name).glob("*.jpg")) if (SHARED_FLOWERS / name).is_dir() else []
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            dest = folder / name / f"{name}-{offset + i:03d}.jpg"
            if real:
                with Image.open(real[offset + i]) as im:
                    ImageOps.fit(im.convert("RGB"), (size, size)).save(dest, quality=90)
            else:
                make_jpeg(dest, ((k * 90) % 256, 60 + 40 * k, 200 - 50 * k), size=(size, size),
                          pattern=(k * 7 + i) % 40)
    return folder


def build_curated(root: Path, classes: list[str], size: int = 32, per_class: int = PER_CLASS) -> Path:
    """A workspace with `per_class` manual images per class, curated into train/val/test."""
    from curation.pipeline import CurateConfig, curate
    from workspace.importer import import_labelled

    ws = init_workspace(root, classes, split=(0.6, 0.2, 0.2)).workspace
    import_labelled(ws, make_photos(root.parent / f"{root.name}-photos", classes, per_class))
    curate(ws, CurateConfig(size=size, split=(0.6, 0.2, 0.2), min_side=16))
    return root


def split_count(ws: Path, split: str) -> int:
    import sqlite3

    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        return conn.execute("SELECT COUNT(*) FROM images WHERE status='accepted' AND split=?", (split,)).fetchone()[0]


@pytest.fixture
def tiny_workspace(tmp_path: Path) -> Path:
    return build_curated(tmp_path / "ws", ["daisy", "roses", "tulips"])
