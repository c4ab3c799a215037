"""`curate`: validate → quality flags → dedupe → split → resize, incrementally, all in the catalog.

Only images not analysed yet are decoded and hashed; dedupe and split decisions are re-derived
for the whole dataset each run (cheap: hashes live in the catalog), with existing splits kept;
curated files are rewritten only when their place or the resize settings changed, and files the
catalog no longer wants are removed, so `curated/` always mirrors the catalog.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from curation.calibrate import Calibration, calibrate
from curation.dedupe import DedupeItem, Judgement, UnionFind, judge
from curation.errors import CurationError
from curation.executor import ExecutorFactory, map_batches, open_executors
from curation.hashing import ImageHashes, split_crop_hashes
from curation.pairs import PairSearch, similar_links
from curation.quality import ALL_FLAGS
from curation.resize import FORMATS, RESIZE_MODES, ResizeSpec
from curation.split import SplitItem, plan_splits
from curation.validate import ValidationLimits
from curation.workers import Analysis, analyse, resize_job
from workspace.catalog import Catalog, utc_now
from workspace.config import validate_split
from workspace.layout import Workspace

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
SPLIT_DIRS = ("train", "val", "test")
UNJUDGED_LABELS = ("candidate", "none")


@dataclass(frozen=True)
class CurateConfig:
    size: int = 224
    resize_mode: str = "center-crop"
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 1337
    threshold: int = 10                   # ceiling of the calibrated near-duplicate radius (bits)
    format: str = "jpg"
    quality: int = 90
    resplit: bool = False
    min_side: int = 32
    max_pixels: int = 64_000_000
    max_aspect: float = 6.0
    reject_flags: tuple[str, ...] = ("low_information",)
    similar_margin: int = 4
    workers: int = 0                      # 0: every core
    cluster: str | None = None            # a Dask scheduler address or local[N]; None: this machine
    band_join_above: int = 0              # hashes past which the near-duplicate search is a band join; 0: never

    def __post_init__(self) -> None:
        if not 16 <= self.size <= 4096:
            raise CurationError(f"--size must be between 16 and 4096, got {self.size}")
        if self.resize_mode not in RESIZE_MODES:
            raise CurationError(f"--resize-mode must be one of {', '.join(RESIZE_MODES)}, got {self.resize_mode!r}")
        if self.format not in FORMATS:
            raise CurationError(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if not 0 <= self.threshold <= 32:
            raise CurationError(f"--threshold must be between 0 and 32 bits, got {self.threshold}")
        unknown = [f for f in self.reject_flags if f not in ALL_FLAGS]
        if unknown:
            raise CurationError(f"unknown quality flag {unknown[0]!r}; known: {', '.join(ALL_FLAGS)}")
        validate_split(tuple(self.split))
        if self.band_join_above < 0:
            raise CurationError(f"--band-join-above must be >= 0, got {self.band_join_above}")

    @property
    def limits(self) -> ValidationLimits:
        return ValidationLimits(self.min_side, self.max_pixels, self.max_aspect)

    @property
    def resize_spec(self) -> ResizeSpec:
        return ResizeSpec(self.size, self.resize_mode, self.format, self.quality)


@dataclass(frozen=True)
class CurateSummary:
    analysed: int
    rejected: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    conflicts: int = 0
    splits: dict[str, dict[str, int]] = field(default_factory=dict)   # class -> split -> count
    written: int = 0
    removed: int = 0
    unlabelled: int = 0
    possible_duplicates: int = 0          # hash-close pairs not confirmed: both images kept
    calibration: dict = field(default_factory=dict)   # curation.calibrate.Calibration.as_dict()
    calibration_text: str = ""


def curate(ws: Workspace, config: CurateConfig, progress: Progress | None = None) -> CurateSummary:
    with open_executors(config.cluster, str(ws.root), config.workers, config.band_join_above) as executors, \
            ws.catalog() as catalog:
        stage = catalog.insert("INSERT INTO stage_runs (stage, params, started_at) VALUES ('curate', ?, ?)",
                               (json.dumps(asdict(config)), utc_now()))
        analysed = _analyse_new(ws, catalog, config, executors, progress)
        items = _dedupe_items(catalog)
        calibration = calibrate(items, config.threshold, seed=config.seed)
        search = executors.pair_search(2 * len(items))
        judgement = judge(items, calibration.rule, pair_search=search)
        _record_calibration(catalog, stage, config, calibration)
        possible = _record_pairs(catalog, items, judgement)
        summary = _apply_decisions(catalog, items, judgement, calibration, config, search)
        written, removed = _materialise(ws, catalog, config, executors, progress)
        _write_metadata(ws, catalog)
        summary = CurateSummary(analysed, summary.rejected, summary.duplicates, summary.conflicts,
                                summary.splits, written, removed, summary.unlabelled, possible,
                                calibration.as_dict(), calibration.describe())
        catalog.execute("UPDATE stage_runs SET ended_at = ?, counts = ? WHERE id = ?",
                        (utc_now(), json.dumps(asdict(summary)), stage))
    return summary


def _record_calibration(catalog: Catalog, stage: int, config: CurateConfig, calibration: Calibration) -> None:
    """The stage's saved config gets the effective radii it ran with, beside the flags it was given."""
    params = {**asdict(config), "calibration": calibration.as_dict()}
    catalog.execute("UPDATE stage_runs SET params = ? WHERE id = ?", (json.dumps(params), stage))


def _record_pairs(catalog: Catalog, items: list[DedupeItem], judgement: Judgement) -> int:
    """Rebuild the pairs table from this run's judgement; returns the possible duplicates."""
    with catalog.transaction() as conn:
        conn.execute("DELETE FROM pairs")
        conn.executemany(
            "INSERT OR REPLACE INTO pairs (a, b, kind, route, phash_distance, dhash_distance, crop_distance, score)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(*sorted((items[p.a].id, items[p.b].id)), p.kind, p.route, p.phash_distance, p.dhash_distance,
              p.crop_distance, p.score) for p in judgement.pairs])
    return sum(1 for p in judgement.pairs if p.kind == "possible_duplicate")


def _analyse_new(ws: Workspace, catalog: Catalog, config: CurateConfig, executors: ExecutorFactory,
                 progress: Progress | None) -> int:
    """Images without a thumbnail: new ones, and those analysed before the thumbnail existed.
    Results are committed a batch at a time as they arrive, so a killed run keeps what finished."""
    rows = catalog.all("SELECT id, path FROM images WHERE path IS NOT NULL AND thumb IS NULL"
                       " AND status IN ('stored', 'unlabelled', 'duplicate', 'accepted', 'conflict')")
    jobs = [f"{r['id']}\0{ws.root / r['path']}" for r in rows]
    done = 0
    for batch in map_batches(executors, analyse, jobs, config.limits):
        with catalog.transaction() as conn:
            for result in batch:
                _record_analysis(conn, result, config)
        done += len(batch)
        if progress:
            progress(done, len(jobs))
    return len(jobs)


def _record_analysis(conn: sqlite3.Connection, result: Analysis, config: CurateConfig) -> None:
    if result.signature is None:
        conn.execute("UPDATE images SET status = 'rejected', reason = ?, split = NULL WHERE id = ?",
                     (result.reason, result.id))
        return
    rejecting = [f for f in result.flags if f in config.reject_flags]
    h = result.signature.hashes
    conn.execute(
        "UPDATE images SET phash = ?, phash_flip = ?, dhash = ?, dhash_flip = ?, crop_hashes = ?, thumb = ?,"
        " flags = ?, status = CASE WHEN ? IS NOT NULL THEN 'rejected' ELSE status END,"
        " reason = CASE WHEN ? IS NOT NULL THEN ? ELSE reason END WHERE id = ?",
        (h.phash, h.phash_flip, h.dhash, h.dhash_flip, result.signature.crop_hashes, result.signature.thumb,
         ",".join(result.flags) or None,
         rejecting[0] if rejecting else None, rejecting[0] if rejecting else None,
         rejecting[0] if rejecting else None, result.id))


def current_split(row) -> str | None:
    """The split an image already has: an accepted image's, or a test split pinned at import
    (`--test FOLDER`) before the image was ever curated."""
    if row["status"] == "accepted" or (row["status"] == "stored" and row["split"] == "test"):
        return row["split"]
    return None


def _dedupe_items(catalog: Catalog) -> list[DedupeItem]:
    rows = catalog.all(
        "SELECT * FROM images WHERE dhash_flip IS NOT NULL"
        " AND (status IN ('stored', 'accepted', 'duplicate', 'conflict', 'unlabelled')"
        "      OR (status = 'rejected' AND reason LIKE 'similar_to_%'))")
    return [DedupeItem(
        r["id"], r["sha256"], ImageHashes(r["phash"], r["phash_flip"], r["dhash"], r["dhash_flip"]),
        r["class"], r["label_source"], r["width"] or 0, r["height"] or 0, r["bytes"] or 0, r["added_at"],
        current_split(r), split_crop_hashes(r["crop_hashes"]), r["thumb"]) for r in rows]


@dataclass(frozen=True)
class _Applied:
    rejected: dict[str, int]
    duplicates: int
    conflicts: int
    splits: dict[str, dict[str, int]]
    unlabelled: int


def split_groups(items: list[DedupeItem], judgement: Judgement, calibration: Calibration,
                 margin: int, pair_search: PairSearch | None = None) -> dict[str, str]:
    """Group id of each item for the split. Look-alikes (both hashes within the calibrated radii
    + `margin`), confirmed pairs (linking kept images through their duplicates) and possible
    duplicates within the calibrated radii share a split. Possible duplicates found only by the
    ceiling rule do not: in a low-variance domain they chain whole classes together."""
    rule = calibration.rule
    finder = UnionFind(len(items))
    for i, j in similar_links(items, rule, margin, pair_search):
        finder.union(i, j)
    for pair in judgement.pairs:
        close_crop = pair.crop_distance is not None and pair.crop_distance <= rule.crop_radius
        if pair.confirmed or pair.phash_distance <= rule.phash_radius or close_crop:
            finder.union(pair.a, pair.b)
    group_of = {}
    for members in finder.groups().values():
        leader = min(items[m].id for m in members)
        for m in members:
            group_of[items[m].id] = leader
    return group_of


def _apply_decisions(catalog: Catalog, items: list[DedupeItem], judgement: Judgement, calibration: Calibration,
                     config: CurateConfig, pair_search: PairSearch | None = None) -> _Applied:
    rows = {r["id"]: r for r in catalog.all("SELECT id, class, label_source, split, status FROM images")}
    decisions = judgement.decisions
    kept = [d for d in decisions if d.status == "kept"]
    trainable = [d for d in kept if d.class_name and rows[d.id]["label_source"] not in UNJUDGED_LABELS]
    group_of = split_groups(items, judgement, calibration, config.similar_margin, pair_search)
    plan = plan_splits(
        [SplitItem(d.id, d.class_name or "", group_of[d.id],
                   current_split(rows[d.id]),
                   rows[d.id]["label_source"]) for d in trainable],
        config.split, config.seed, config.resplit)
    counts: Counter[str] = Counter()
    splits: dict[str, dict[str, int]] = {}
    with catalog.transaction() as conn:
        for d in decisions:
            row = rows[d.id]
            if d.status == "duplicate":
                conn.execute("UPDATE images SET status='duplicate', reason=?, duplicate_of=?, group_id=?, split=NULL"
                             " WHERE id=?", (d.reason, d.duplicate_of, d.group_id, d.id))
                counts["duplicate"] += 1
            elif d.status == "conflict":
                conn.execute("UPDATE images SET status='conflict', reason=?, duplicate_of=NULL, group_id=?,"
                             " split=NULL WHERE id=?", (d.reason, d.group_id, d.id))
                counts["conflict"] += 1
            elif d.id in plan.assignments:
                split = plan.assignments[d.id]
                conn.execute("UPDATE images SET status='accepted', reason=NULL, duplicate_of=NULL, group_id=?,"
                             " split=? WHERE id=?", (group_of[d.id], split, d.id))
                splits.setdefault(row["class"], {}).setdefault(split, 0)
                splits[row["class"]][split] += 1
            elif d.id in plan.excluded:
                conn.execute("UPDATE images SET status='rejected', reason=?, duplicate_of=NULL, group_id=?,"
                             " split=NULL WHERE id=?", (plan.excluded[d.id], group_of.get(d.id), d.id))
                counts[plan.excluded[d.id]] += 1
            else:  # kept but not yet judged (pool / round candidates)
                conn.execute("UPDATE images SET status='unlabelled', reason=NULL, duplicate_of=NULL, group_id=?,"
                             " split=NULL WHERE id=?", (d.group_id, d.id))
                counts["unlabelled"] += 1
    rejected = {r["reason"]: r["n"] for r in catalog.all(
        "SELECT reason, COUNT(*) AS n FROM images WHERE status='rejected' GROUP BY reason")}
    return _Applied(rejected, counts["duplicate"], counts["conflict"], splits, counts["unlabelled"])


def _materialise(ws: Workspace, catalog: Catalog, config: CurateConfig, executors: ExecutorFactory,
                 progress: Progress | None) -> tuple[int, int]:
    """Write missing/stale curated files, remove files the catalog no longer wants."""
    for leftover in ws.curated_dir.rglob(".*.tmp"):  # an encoder killed mid-write
        leftover.unlink(missing_ok=True)
    spec_file = ws.curated_dir / ".resize.json"
    spec = json.dumps(asdict(config.resize_spec), sort_keys=True)
    rebuild = not spec_file.exists() or spec_file.read_text() != spec
    rows = catalog.all("SELECT id, path, class, split, curated_path FROM images WHERE status='accepted'")
    wanted = {r["id"]: f"curated/{r['split']}/{r['class']}/{r['id']}.{config.format}" for r in rows}
    todo = [r for r in rows if rebuild or r["curated_path"] != wanted[r["id"]]
            or not (ws.root / wanted[r["id"]]).exists()]
    jobs = [f"{r['id']}\0{ws.root / r['path']}\0{ws.root / wanted[r['id']]}" for r in todo]
    failures = _map_resize(jobs, config, executors)
    written = 0
    with catalog.transaction() as conn:
        for r in todo:
            if r["id"] in failures:
                conn.execute("UPDATE images SET status='rejected', reason=?, split=NULL, curated_path=NULL"
                             " WHERE id=?", (failures[r["id"]], r["id"]))
                wanted.pop(r["id"])
                continue
            conn.execute("UPDATE images SET curated_path=?, curated_at=? WHERE id=?",
                         (wanted[r["id"]], utc_now(), r["id"]))
            written += 1
        conn.execute("UPDATE images SET curated_path=NULL WHERE status != 'accepted' AND curated_path IS NOT NULL")
    removed = _remove_stale(ws, set(wanted.values()))
    _make_class_dirs(ws)
    spec_file.write_text(spec)
    if progress:
        progress(len(todo), len(todo))
    return written, removed


def _map_resize(jobs: list[str], config: CurateConfig, executors: ExecutorFactory) -> dict[str, str]:
    """Resize and write the curated files where the executors run; returns the failures."""
    return {image_id: reason for batch in map_batches(executors, resize_job, jobs, config.resize_spec, config.limits)
            for image_id, reason in batch if reason}


def _remove_stale(ws: Workspace, wanted: set[str]) -> int:
    removed = 0
    for split in SPLIT_DIRS:
        folder = ws.curated_dir / split
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.is_file() and ws.relative(path) not in wanted:
                path.unlink()
                removed += 1
    return removed


def _make_class_dirs(ws: Workspace) -> None:
    """Every class folder in every split, empty or not: Keras indexes classes by folder, so all
    splits must list the same classes in the same order."""
    for split in SPLIT_DIRS:
        for name in ws.config().class_names:
            (ws.curated_dir / split / name).mkdir(parents=True, exist_ok=True)


def _write_metadata(ws: Workspace, catalog: Catalog) -> None:
    """curated/metadata.csv: Hugging Face imagefolder's file_name column plus our labels."""
    rows = catalog.all("SELECT id, curated_path, class, split, label_source, confidence, round, source, sha256"
                       " FROM images WHERE status='accepted' AND curated_path IS NOT NULL ORDER BY curated_path")
    path = ws.curated_dir / "metadata.csv"
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", "label", "split", "id", "label_source", "confidence", "round", "source", "sha256"])
        for r in rows:
            writer.writerow([r["curated_path"].removeprefix("curated/"), r["class"], r["split"], r["id"],
                             r["label_source"], r["confidence"], r["round"], r["source"], r["sha256"]])
    os.replace(tmp, path)
