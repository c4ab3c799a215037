"""Curate decodes each stored image once: analysis makes the flags, the hashes and the resized
output from one decode, and the split/resize pass moves that output into place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

import curation.resize
import curation.validate
import curation.workers
from curation.pipeline import CurateConfig, curate
from tests.conftest import SHARED_FLOWERS
from workspace.importer import import_labelled
from workspace.layout import init_workspace

CLASSES = ["daisy", "tulips"]


@pytest.fixture()
def workspace(tmp_path: Path):
    if not (SHARED_FLOWERS / "daisy").is_dir():
        pytest.skip(f"real photos not found at {SHARED_FLOWERS} (they live in ../shared beside the repo)")
    for name in CLASSES:
        (tmp_path / "src" / name).mkdir(parents=True)
        for path in sorted((SHARED_FLOWERS / name).glob("*.jpg"))[:12]:
            shutil.copy(path, tmp_path / "src" / name / path.name)
    ws = init_workspace(tmp_path / "ws", CLASSES).workspace
    import_labelled(ws, tmp_path / "src")
    return ws


def counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every source decoded by the workers (in-process: fewer than 64 jobs)."""
    seen: list[Path] = []
    real = curation.workers.decode

    def decode(path, limits, draft=None):
        seen.append(Path(path))
        return real(path, limits, draft)

    monkeypatch.setattr(curation.workers, "decode", decode)
    monkeypatch.setattr(curation.validate, "decode", decode)
    monkeypatch.setattr(curation.resize, "decode", decode)
    return seen


def test_each_image_is_decoded_once_and_its_output_comes_from_that_decode(workspace, monkeypatch) -> None:
    decoded = counting_decodes(monkeypatch)
    summary = curate(workspace, CurateConfig(size=48, seed=5, workers=1))
    written = sorted(workspace.curated_dir.rglob("*.jpg"))
    assert summary.analysed == 24 and summary.written == len(written) > 15
    assert len(decoded) == len(set(decoded)) == 24, "one decode per stored image, none in the resize pass"
    for path in written:
        with Image.open(path) as im:
            assert im.size == (48, 48)
    assert not (workspace.tmp_dir / "resized").exists(), "unused cached outputs are cleared"


def test_new_resize_settings_decode_the_originals_again(workspace, monkeypatch) -> None:
    curate(workspace, CurateConfig(size=48, seed=5, workers=1))
    decoded = counting_decodes(monkeypatch)
    summary = curate(workspace, CurateConfig(size=40, seed=5, workers=1))
    assert summary.analysed == 0 and summary.written == len(decoded) > 15
    for path in workspace.curated_dir.rglob("*.jpg"):
        with Image.open(path) as im:
            assert im.size == (40, 40)
