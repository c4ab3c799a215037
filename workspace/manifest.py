"""The manifest (`export`) and the per-class summary (`status`): queries over the catalog."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workspace.catalog import Catalog
from workspace.errors import WorkspaceError
from workspace.layout import Workspace

if TYPE_CHECKING:  # pandas costs every CLI command ~0.5 s to import: loaded by the manifest alone
    import pandas as pd

MANIFEST_COLUMNS = (
    "id", "path", "class", "status", "reason", "split", "label_source", "confidence", "round",
    "source", "page_url", "query", "engine", "width", "height", "format", "bytes", "phash",
    "duplicate_of", "flags", "sha256", "curated_path", "group_id", "added_at",
)


def manifest_frame(catalog: Catalog) -> pd.DataFrame:
    """One row per image row in the catalog, in the documented column spelling."""
    import pandas as pd

    columns = ", ".join(f'"{c}"' for c in MANIFEST_COLUMNS)
    rows = catalog.all(f"SELECT {columns} FROM images ORDER BY added_at, id")
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(MANIFEST_COLUMNS))
    for name in ("width", "height", "bytes", "round"):
        frame[name] = frame[name].astype("Int64")
    frame["confidence"] = frame["confidence"].astype("Float64")
    text = [c for c in MANIFEST_COLUMNS if c not in ("width", "height", "bytes", "round", "confidence")]
    frame[text] = frame[text].astype("string")
    return frame


def export_manifest(ws: Workspace, out: Path) -> int:
    """Write the manifest as .csv or .parquet (by extension); returns the row count."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise WorkspaceError(f"--out must end in .csv or .parquet, got {out.name!r}")
    if out.is_dir():
        raise WorkspaceError(f"--out {out} is a folder; give a file name such as {out / ('manifest' + suffix)}")
    with ws.catalog() as catalog:
        frame = manifest_frame(catalog)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        tmp.replace(out)
    except OSError as exc:
        raise WorkspaceError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)  # a failed export leaves nothing half-made
    return len(frame)


@dataclass
class ClassStatus:
    """`stored`: images with a file in raw/ (not those rejected at ingest, which have none)."""

    name: str
    active: bool = True             # False: removed from harvest.json, rows and files kept
    stored: int = 0
    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    unprocessed: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    label_sources: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass(frozen=True)
class EngineYield:
    engine: str
    found: int
    full_resolution: int
    downloaded: int
    failed: dict[str, int]
    unique: int

    @property
    def full_resolution_share(self) -> float:
        return self.full_resolution / self.found if self.found else 0.0


def class_status(catalog: Catalog) -> list[ClassStatus]:
    """Per-class counts; unlabelled pool images are listed under '(unlabelled)'."""
    table = {r["name"]: ClassStatus(r["name"], bool(r["active"]))
             for r in catalog.all("SELECT name, active FROM classes ORDER BY active DESC, position")}
    rows = catalog.all(
        "SELECT COALESCE(class, '(unlabelled)') AS cls, status, reason, split, label_source,"
        " path IS NOT NULL AS has_file, COUNT(*) AS n FROM images"
        " GROUP BY cls, status, reason, split, label_source, has_file"
    )
    for r in rows:
        item = table.setdefault(r["cls"], ClassStatus(r["cls"]))
        n = int(r["n"])
        item.stored += n if r["has_file"] else 0
        status = r["status"]
        if status == "accepted":
            item.accepted += n
            if r["split"]:
                item.splits[r["split"]] = item.splits.get(r["split"], 0) + n
        elif status == "rejected":
            reason = r["reason"] or "unknown"
            item.rejected[reason] = item.rejected.get(reason, 0) + n
        elif status == "duplicate":
            item.duplicates += n
        elif status == "conflict":
            item.conflicts += n
        else:
            item.unprocessed += n
        item.label_sources[r["label_source"]] = item.label_sources.get(r["label_source"], 0) + n
    return list(table.values())


def engine_yield(catalog: Catalog) -> list[EngineYield]:
    """Per engine: URLs found, full-resolution share, downloaded, failures, unique stored."""
    found = defaultdict(lambda: [0, 0, 0, 0])
    failed: dict[str, dict[str, int]] = defaultdict(dict)
    for r in catalog.all(
        "SELECT engine, status, reason, is_thumbnail, COUNT(*) AS n FROM candidates"
        " GROUP BY engine, status, reason, is_thumbnail"
    ):
        counts = found[r["engine"]]
        counts[0] += r["n"]
        counts[1] += 0 if r["is_thumbnail"] else r["n"]
        if r["status"] in ("stored", "duplicate"):
            counts[2] += r["n"]
        if r["status"] == "stored":
            counts[3] += r["n"]
        if r["status"] in ("failed", "skipped"):
            reason = r["reason"] or "unknown"
            failed[r["engine"]][reason] = failed[r["engine"]].get(reason, 0) + r["n"]
    return [
        EngineYield(engine, c[0], c[1], c[2], failed.get(engine, {}), c[3])
        for engine, c in sorted(found.items())
    ]
