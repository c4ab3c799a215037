"""`--test FOLDER`: a labelled folder imported as `manual` and frozen as the test split.

A crawled test split is query-labelled and as noisy as the rest, so a clean one is the only
test worth a number. The folder must use the workspace's class names, hold images, and share
no picture with the training data: a duplicate of a train image would make the test a memory
test, and silently moving either image would hide that, so it is refused with one line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from curation.hashing import ImageHashes, image_hashes, is_near_duplicate
from curation.validate import ValidationLimits, open_normalized
from training.errors import TrainingError
from workspace.images import pin_test_split, release_test_split
from workspace.importer import FoundFile, class_folders, import_labelled, iter_files
from workspace.layout import Workspace

DUPLICATE_RADIUS = 6   # a conservative pHash radius: only true copies, never look-alikes


@dataclass(frozen=True)
class CleanTestSummary:
    images: int
    new: int
    released: int          # query-labelled images that left the test split for train/val


def check_folder(ws: Workspace, folder: Path) -> list[Path]:
    """The folder's image files; one-line errors for unknown classes or no files."""
    if not folder.is_dir():
        raise TrainingError(f"--test folder not found: {folder}")
    try:
        folders = class_folders(folder)
    except Exception as exc:  # noqa: BLE001 - WorkspaceError: no class folders
        raise TrainingError(f"--test {folder}: {exc}") from None
    known = ws.config().class_names
    unknown = sorted(set(folders) - set(known))
    if unknown:
        raise TrainingError(f"--test {folder} has class folders that are not classes of this workspace: "
                            f"{', '.join(unknown)} (classes: {', '.join(known)})")
    files = [f.path for sub in folders.values() for f in iter_files(sub) if f.skip is None]
    if not files:
        raise TrainingError(f"--test {folder} holds no files (expected FOLDER/<class>/<images>)")
    return files


def _fingerprint(path: Path) -> tuple[str, ImageHashes | None]:
    data = path.read_bytes()
    try:
        image = open_normalized(path, ValidationLimits(min_side=1, max_aspect=1000), draft=256)
        return hashlib.sha256(data).hexdigest(), image_hashes(image)
    except Exception:  # noqa: BLE001 - an unreadable file is recorded by the import, not here
        return hashlib.sha256(data).hexdigest(), None


def refuse_duplicates_of_training(ws: Workspace, files: list[Path]) -> None:
    """One line naming the first test file that is a copy of a train or val image."""
    with ws.catalog() as catalog:  # labelled images in train/val, or waiting for their first curate
        rows = catalog.all("SELECT id, sha256, phash, phash_flip, dhash, dhash_flip FROM images WHERE"
                           " (status = 'accepted' AND split IN ('train', 'val')) OR (status = 'stored' AND"
                           " label_source IN ('manual', 'query', 'pseudo') AND split IS NULL)")
    known = [(r["id"], r["sha256"], ImageHashes(r["phash"], r["phash_flip"], r["dhash"], r["dhash_flip"])
              if r["dhash_flip"] else None) for r in rows]
    clashes = []
    for path in files:
        sha, hashes = _fingerprint(path)
        for image_id, other_sha, other in known:
            if sha == other_sha or (hashes and other and is_near_duplicate(hashes, other, DUPLICATE_RADIUS)):
                clashes.append((path, image_id))
                break
    if clashes:
        path, image_id = clashes[0]
        raise TrainingError(f"--test: {len(clashes)} image(s) duplicate training images (first: {path} is a copy "
                            f"of image {image_id}); remove them from the test folder")


def import_clean_test_folder(ws: Workspace, folder: Path) -> CleanTestSummary:
    """Import FOLDER as manual labels and pin it as the test split."""
    files = check_folder(ws, folder)
    refuse_duplicates_of_training(ws, files)
    summary = import_labelled(ws, folder)
    sources = [FoundFile(p).source for p in files]
    with ws.catalog() as catalog, catalog.transaction() as conn:
        released = release_test_split(conn)
        pin_test_split(conn, sources)
    return CleanTestSummary(len(files), summary.new, released)


def describe_test_split(ws: Workspace) -> tuple[str, int, int]:
    """('manual' | 'query', images, smallest class count) of the current test split."""
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT label_source, class, COUNT(*) AS n FROM images WHERE status = 'accepted'"
                           " AND split = 'test' GROUP BY label_source, class")
    total = sum(r["n"] for r in rows)
    per_class: dict[str, int] = {}
    for r in rows:
        per_class[r["class"]] = per_class.get(r["class"], 0) + r["n"]
    sources = {r["label_source"] for r in rows}
    kind = "manual" if sources == {"manual"} else "query"
    return kind, total, min(per_class.values()) if per_class else 0
