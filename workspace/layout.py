"""A workspace folder: where everything lives, creating it, and opening it.

    DIR/harvest.json       config (classes, queries, targets, engines, size, split, stage sections)
    DIR/catalog.sqlite     the catalog
    DIR/raw/ab/<sha256>.<ext>   content-addressed originals (downloads and imports)
    DIR/curated/{train,val,test}/<class>/<id>.<ext> + metadata.csv   derived from the catalog
    DIR/features/<key>.sqlite  embedding caches of frozen backbones
    DIR/models/<run-id>/   training runs
    DIR/rounds/<k>/        self-training rounds
    DIR/reports/           HTML report
    DIR/logs/              job logs
    DIR/tmp/               partial files, renamed into raw/ when complete
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from workspace.catalog import Catalog, utc_now
from workspace.config import CONFIG_NAME, ClassSpec, WorkspaceConfig, load_config, save_config
from workspace.errors import WorkspaceError

CATALOG_NAME = "catalog.sqlite"
SUBDIRS = ("raw", "curated", "models", "rounds", "reports", "logs", "tmp", "features")


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace. Cheap to build; `catalog()` opens the database."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_NAME

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def curated_dir(self) -> Path:
        return self.root / "curated"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def rounds_dir(self) -> Path:
        return self.root / "rounds"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def config(self) -> WorkspaceConfig:
        return load_config(self.config_path)

    def save_config(self, config: WorkspaceConfig) -> None:
        save_config(config, self.config_path)

    def catalog(self) -> Catalog:
        return Catalog(self.catalog_path)

    def resolve(self, relative: str) -> Path:
        """A catalog path (relative to the workspace) as a file path, refusing escapes."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise WorkspaceError(f"path {relative!r} escapes the workspace")
        return path

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root.resolve()).as_posix()


@dataclass(frozen=True)
class InitResult:
    workspace: Workspace
    created: bool
    classes: tuple[str, ...]


def open_workspace(root: Path | str) -> Workspace:
    """Open an existing workspace, or fail with a clear message."""
    ws = Workspace(Path(root))
    if not ws.root.is_dir():
        raise WorkspaceError(f"no workspace at {ws.root} (run `python cli.py init {ws.root} --classes ...`)")
    if not ws.config_path.is_file():
        raise WorkspaceError(f"{ws.root} is not a Harvest workspace: {CONFIG_NAME} is missing")
    for name in SUBDIRS:
        if not (ws.root / name).is_symlink():  # curated/ is a symlink to the published version
            (ws.root / name).mkdir(exist_ok=True)
    return ws


def init_workspace(
    root: Path | str,
    class_names: list[str],
    queries: dict[str, list[str]] | None = None,
    target: int = 100,
    engines: tuple[str, ...] = ("bing",),
    image_size: int = 224,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> InitResult:
    """Create a workspace; an existing one is reported (created=False) and never overwritten."""
    ws = Workspace(Path(root))
    if ws.config_path.exists():
        ws = open_workspace(ws.root)
        with ws.catalog():
            pass  # brings an older catalog up to date
        return InitResult(ws, created=False, classes=tuple(ws.config().class_names))
    if ws.root.exists() and not ws.root.is_dir():
        raise WorkspaceError(f"{ws.root} exists and is not a folder")
    queries = queries or {}
    unknown = sorted(set(queries) - set(class_names))
    if unknown:
        raise WorkspaceError(f"queries file names a class not in --classes: {unknown[0]!r}")
    config = WorkspaceConfig(
        classes=tuple(
            ClassSpec(name=n, queries=tuple(queries.get(n) or [n]), target=target)
            for n in class_names
        ),
        engines=engines,
        image_size=image_size,
        split=split,
    )
    ws.root.mkdir(parents=True, exist_ok=True)
    for name in SUBDIRS:
        (ws.root / name).mkdir(exist_ok=True)
    with ws.catalog() as catalog:
        sync_classes(catalog, config)
    ws.save_config(config)  # written last: its presence marks a complete workspace
    return InitResult(ws, created=True, classes=tuple(class_names))


def sync_classes(catalog: Catalog, config: WorkspaceConfig) -> None:
    """Mirror the config's classes and queries into the catalog (idempotent)."""
    with catalog.transaction() as conn:
        for position, spec in enumerate(config.classes):
            conn.execute(
                "INSERT INTO classes (name, position, target) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET position = excluded.position, target = excluded.target",
                (spec.name, position, spec.target),
            )
            for query in spec.queries:
                conn.execute(
                    "INSERT OR IGNORE INTO queries (class, query, kind) VALUES (?, ?, 'primary')",
                    (spec.name, query),
                )
            for query in spec.expansions:
                conn.execute(
                    "INSERT OR IGNORE INTO queries (class, query, kind) VALUES (?, ?, 'expanded')",
                    (spec.name, query),
                )


def read_queries_file(path: Path) -> dict[str, list[str]]:
    """Queries per class from a file of `class: query one; query two` or `class<TAB>query` lines."""
    if not path.is_file():
        raise WorkspaceError(f"queries file not found: {path}")
    result: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sep = ":" if ":" in line else "\t" if "\t" in line else None
        if sep is None:
            raise WorkspaceError(f"{path}:{number}: expected 'class: query; query', got {line!r}")
        name, _, rest = line.partition(sep)
        items = [q.strip() for q in rest.replace(";", "\n").replace("|", "\n").splitlines()]
        result.setdefault(unicodedata.normalize("NFC", name.strip()), []).extend(q for q in items if q)
    return result


__all__ = ["Workspace", "InitResult", "open_workspace", "init_workspace", "sync_classes",
           "read_queries_file", "utc_now"]
