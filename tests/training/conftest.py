"""A tiny curated workspace for training tests: real photos (downsized) when available."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageOps

from tests.conftest import SHARED_FLOWERS, make_jpeg
from workspace.layout import init_workspace

PER_SPLIT = {"train": 12, "val": 4, "test": 4}


def build_curated(root: Path, classes: list[str], size: int = 32) -> Path:
    ws = init_workspace(root, classes).workspace
    for k, name in enumerate(classes):
        real = sorted((SHARED_FLOWERS / name).glob("*.jpg")) if (SHARED_FLOWERS / name).is_dir() else []
        n = 0
        for split, count in PER_SPLIT.items():
            folder = ws.curated_dir / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                dest = folder / f"{name}-{split}-{i}.jpg"
                if real:
                    with Image.open(real[n]) as im:
                        ImageOps.fit(im.convert("RGB"), (size, size)).save(dest, quality=90)
                else:
                    make_jpeg(dest, ((k * 90) % 256, 60 + 40 * k, 200 - 50 * k), size=(size, size), pattern=k * 3 + i % 2)
                n += 1
    return root


@pytest.fixture
def tiny_workspace(tmp_path: Path) -> Path:
    return build_curated(tmp_path / "ws", ["daisy", "roses", "tulips"])
