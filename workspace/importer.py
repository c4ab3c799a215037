"""`import`: bring your own images, FOLDER/<class>/** (or a flat unlabelled pool)."""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from workspace.catalog import Catalog
from workspace.config import ClassSpec, validate_class_name
from workspace.errors import ConfigError, WorkspaceError
from workspace.layout import Workspace, sync_classes
from workspace.progress import Progress
from workspace.storage import IngestMeta, clean_temp, ingest_file, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportSummary:
    seen: int
    new: int
    already: int
    by_status: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)   # files found but not read, by reason


@dataclass(frozen=True)
class FoundFile:
    """A file under the import folder: `skip` is the reason it is not read (a link that cannot be
    followed, or one not to follow), None when it is read."""

    path: Path
    skip: str | None = None

    @property
    def source(self) -> str:
        """Where the image came from: the file's real path, or for a link the link itself (its
        name is the meaningful one in DVC caches and data lakes, not the content-hash target)."""
        if self.path.is_symlink():
            return str(self.path.parent.resolve() / self.path.name)
        return str(self.path.resolve())


def iter_files(folder: Path, follow_symlinks: bool = True) -> Iterator[FoundFile]:
    """Files under folder, any depth, sorted, skipping hidden files and folders. Symlinks to
    regular files are followed like `cp -L`; other links come with the reason they are skipped."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_symlink():
            yield FoundFile(path, symlink_problem(path) if follow_symlinks else "symlink_not_followed")
        elif path.is_file():
            yield FoundFile(path)
        elif not path.is_dir():
            yield FoundFile(path, "not_a_regular_file")  # FIFO, socket, device


def symlink_problem(link: Path) -> str | None:
    """None for a link that ends at a regular file; else broken_symlink, symlink_loop or
    symlink_not_a_file."""
    try:
        target = link.resolve(strict=True)
    except FileNotFoundError:
        return "broken_symlink"
    except (RuntimeError, OSError):  # RuntimeError: Python's own loop detection
        return "symlink_loop"
    return None if target.is_file() else "symlink_not_a_file"


def class_folders(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise WorkspaceError(f"import folder not found: {folder}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        name = unicodedata.normalize("NFC", path.name)  # macOS hands out decomposed (NFD) names
        if name in found:
            raise WorkspaceError(f"{folder} has two folders for class {name!r}: {found[name].name!r} and "
                                 f"{path.name!r} (the same name in two Unicode forms); merge them first")
        found[name] = path
    if not found:
        raise WorkspaceError(f"{folder} has no class folders (expected FOLDER/<class>/<images>)")
    return found


def import_labelled(
    ws: Workspace, folder: Path, add_classes: bool = False, progress: Progress | None = None,
    follow_symlinks: bool = True,
) -> ImportSummary:
    """Import FOLDER/<class>/** as label source `manual`."""
    folders = class_folders(folder)
    config = ws.config()
    unknown = [name for name in folders if name not in config.class_names]
    if unknown and not add_classes:
        raise WorkspaceError(
            f"{folder} has class folders not in this workspace: {', '.join(unknown)} "
            "(pass --add-classes to add them)"
        )
    with ws.catalog() as catalog:
        if unknown:
            for name in unknown:
                validate_class_name(name)
            config = type(config)(**{
                **config.__dict__,
                "classes": config.classes + tuple(ClassSpec(n, (n,)) for n in unknown),
            })
            sync_classes(catalog, config)
            ws.save_config(config)
        jobs = [(found, name) for name, sub in folders.items() for found in iter_files(sub, follow_symlinks)]
        return _import(ws, catalog, jobs, "manual", progress)


def import_unlabelled(ws: Workspace, folder: Path, progress: Progress | None = None,
                      follow_symlinks: bool = True) -> ImportSummary:
    """Import every file under FOLDER as an unlabelled pool image (for pseudo-labelling)."""
    if not folder.is_dir():
        raise WorkspaceError(f"import folder not found: {folder}")
    with ws.catalog() as catalog:
        jobs = [(found, None) for found in iter_files(folder, follow_symlinks)]
        return _import(ws, catalog, jobs, "none", progress)


def _import(
    ws: Workspace, catalog: Catalog, found: list[tuple[FoundFile, str | None]], label_source: str,
    progress: Progress | None,
) -> ImportSummary:
    clean_temp(ws)
    skipped = Counter(f.skip for f, _ in found if f.skip)
    for f, _ in found:
        if f.skip:  # a link not followed on request is routine; the others are problems
            log.log(logging.INFO if f.skip == "symlink_not_followed" else logging.WARNING,
                    "skipped %s: %s", f.path, f.skip)
    jobs = [(f, class_name) for f, class_name in found if not f.skip]
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    new = 0
    max_pixels = ws.config().max_pixels  # the same limit curate applies
    with ThreadPoolExecutor(max_workers=4) as pool:  # hashing and decoding release the GIL
        hashes = pool.map(_safe_hash, (f.path for f, _ in jobs))
        for done, ((f, class_name), sha) in enumerate(zip(jobs, hashes), start=1):
            meta = IngestMeta(source=f.source, class_name=class_name, label_source=label_source)
            if sha is None:
                log.warning("cannot read %s", f.path)
                statuses["unreadable"] += 1
                reasons["unreadable"] += 1
                continue
            result = ingest_file(ws, catalog, f.path, meta, sha256=sha, max_pixels=max_pixels)
            new += result.new
            statuses[result.status] += 1
            if result.reason:
                reasons[result.reason] += 1
            if progress:
                progress(done, len(jobs))
    return ImportSummary(seen=len(jobs), new=new, already=len(jobs) - new - statuses["unreadable"],
                         by_status=dict(statuses), by_reason=dict(reasons), skipped=dict(skipped))


def _safe_hash(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


__all__ = ["ImportSummary", "import_labelled", "import_unlabelled", "iter_files", "ConfigError"]
