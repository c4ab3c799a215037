"""A real Dask cluster on 127.0.0.1 for the cluster tests, and curate workspaces to compare."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from tests.conftest import SHARED_FLOWERS
from workspace.importer import import_labelled
from workspace.layout import Workspace, init_workspace, open_workspace

CLASSES = ["daisy", "roses", "tulips"]
COMPARED = ("id", "status", "reason", "split", "group_id", "duplicate_of", "phash", "phash_flip", "dhash",
            "dhash_flip", "crop_hashes", "thumb", "flags", "curated_path")


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[str]:
    """A LocalCluster of 2 worker processes (one thread each) on 127.0.0.1; yields its address."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def photo_workspace(root: Path, per_class: int) -> Workspace:
    """Real photos of three classes, with a resized and a mirrored copy planted in two classes."""
    if not (SHARED_FLOWERS / "daisy").is_dir():
        pytest.skip(f"real photos not found at {SHARED_FLOWERS} (they live in ../shared beside the repo)")
    src = root / "src"
    for name in CLASSES:
        (src / name).mkdir(parents=True)
        for path in sorted((SHARED_FLOWERS / name).glob("*.jpg"))[:per_class]:
            shutil.copy(path, src / name / path.name)
    for name in CLASSES[:2]:
        first = sorted((src / name).iterdir())[0]
        with Image.open(first) as image:
            image.resize((image.width // 2, image.height // 2)).save(src / name / f"small-{first.name}", quality=85)
            ImageOps.mirror(image).save(src / name / f"mirror-{first.name}", quality=92)
    ws = init_workspace(root / "ws", CLASSES).workspace
    import_labelled(ws, src)
    return ws


def copy_workspace(ws: Workspace, dest: Path) -> Workspace:
    """The same catalog (same ids and added_at, so the same keep rule) in another folder."""
    shutil.copytree(ws.root, dest)
    return open_workspace(dest)


def catalog_state(ws: Workspace) -> tuple[list[tuple], list[tuple], list[str]]:
    """What a user could tell two curates apart by: image rows, pairs, curated files."""
    with ws.catalog() as catalog:
        images = [tuple(r) for r in catalog.all(f"SELECT {', '.join(COMPARED)} FROM images ORDER BY id")]
        pairs = [tuple(r) for r in catalog.all("SELECT a, b, kind, route FROM pairs ORDER BY a, b")]
    files = sorted(str(p.relative_to(ws.root)) for p in (ws.root / "curated").rglob("*") if p.is_file())
    return images, pairs, files
