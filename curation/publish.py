"""Publishing `curated/` whole: a new version is built aside and swapped in with one rename.

`DIR/curated` is a symlink to a folder under `DIR/.curated/`. A curate builds the next version in
a fresh folder there (unchanged files are hard links to the published ones, so only new or moved
images are encoded), then replaces the symlink atomically (`os.replace`). A reader, Keras'
`image_dataset_from_directory` included, sees the old version or the new one, never half of one;
a killed curate leaves only a build folder that the next curate deletes. A workspace made before
this (a real `curated/` folder) is moved under `.curated/` on its first publish.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from workspace.images import SPLITS
from workspace.layout import Workspace

VERSIONS = ".curated"
LINK_TMP = ".curated.link.tmp"


def versions_dir(ws: Workspace) -> Path:
    return ws.root / VERSIONS


def published_dir(ws: Workspace) -> Path | None:
    """The folder `curated/` shows now (None before the first publish)."""
    link = ws.curated_dir
    if link.is_symlink():
        target = link.resolve()
        return target if target.is_dir() else None
    return link if link.is_dir() else None


def begin_build(ws: Workspace) -> Path:
    """A fresh, empty build folder; builds left by killed curates are removed first."""
    folder = versions_dir(ws)
    folder.mkdir(exist_ok=True)
    current = published_dir(ws)
    for leftover in folder.iterdir():
        if leftover == current:
            continue
        if leftover.is_dir():  # builds of killed curates, versions a crash kept from removal
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    build = folder / f"build-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"
    build.mkdir()
    return build


def published_files(ws: Workspace) -> dict[str, Path]:
    """Image files of the published version by image id (file stem), to be linked into a build."""
    current = published_dir(ws)
    if current is None:
        return {}
    return {path.stem: path for split in SPLITS if (current / split).is_dir()
            for path in (current / split).rglob("*") if path.is_file() and not path.name.startswith(".")}


def link_or_copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:  # another file system, or links not allowed: a copy is as good
        shutil.copy2(source, dest)


def swap_in(ws: Workspace, build: Path, version: str) -> Path:
    """Name the finished build after its version, point `curated` at it in one atomic rename,
    then drop the version it replaced. Returns the published folder."""
    final = build.with_name(f"v-{version}-{build.name.removeprefix('build-')}")
    os.rename(build, final)
    old = published_dir(ws)
    link = ws.curated_dir
    if old is not None and not link.is_symlink():  # a workspace from before versions: move it aside
        legacy = versions_dir(ws) / "legacy"
        shutil.rmtree(legacy, ignore_errors=True)
        os.rename(link, legacy)
        old = legacy
    tmp = ws.root / LINK_TMP
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.join(VERSIONS, final.name), tmp)
    os.replace(tmp, link)
    if old is not None and old != final:
        shutil.rmtree(old, ignore_errors=True)
    return final
