"""`curate`: validate → quality flags → dedupe → split → resize, incrementally, all in the catalog.

Only images not analysed yet are decoded and hashed; dedupe and split decisions are re-derived
for the whole dataset each run (cheap: hashes live in the catalog), with existing splits kept;
each finished run publishes `curated/` as a whole new version (`curation.publish`: built aside,
unchanged files hard-linked, swapped in atomically) and records its fingerprint
(`workspace.dataset`), so `curated/` always mirrors the catalog of a finished curate.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import sqlite3
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from curation.calibrate import Calibration, calibrate
from curation.dedupe import DedupeItem, Judgement, UnionFind, judge
from curation.errors import CurationError
from curation.executor import ExecutorFactory, map_batches, open_executors
from curation.hashing import ImageHashes, split_crop_hashes
from curation.ingest_analysis import adopt_ingest_analysis, cache_path, resized_cache
from curation.pairs import Candidates, ceiling_candidates, similar_links
from curation.publish import begin_build, link_or_copy, published_files, swap_in
from curation.quality import ALL_FLAGS
from curation.records import changes, dataset_fingerprint, image_states, split_notes, sync_active_classes
from curation.resize import ResizeSpec, spec_problem
from curation.split import SplitItem, plan_splits
from curation.validate import ValidationLimits
from curation.workers import Analysis, analyse, place_cached, resize_job
from workspace.catalog import Catalog, utc_now
from workspace.config import validate_split
from workspace.imagecheck import DEFAULT_MAX_PIXELS
from workspace.images import (JUDGED_EACH_CURATE, SPLITS, UNJUDGED_LABELS, ImageStatus, Verdicts, record_verdicts,
                              reject_flagged, reject_many, rejected_by_reason)
from workspace.layout import Workspace
from workspace.progress import Progress
from workspace.stage_runs import StageRun, last_params, stage_run

log = logging.getLogger(__name__)


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
    max_pixels: int = DEFAULT_MAX_PIXELS  # the workspace's max_pixels, the same limit as import
    max_aspect: float = 6.0
    reject_flags: tuple[str, ...] = ("low_information",)
    similar_margin: int = 4
    workers: int = 0                      # 0: every core
    cluster: str | None = None            # a Dask scheduler address or local[N]; None: this machine
    band_join_above: int = 0              # hashes past which the near-duplicate search is a band join; 0: never

    def __post_init__(self) -> None:
        problem = spec_problem(self.resize_spec)
        if problem:
            raise CurationError(problem)
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
    """`analysed`, `written`, `removed` and `changes` describe this run; `rejected`, `duplicates`,
    `conflicts` and `splits` are the whole dataset's totals after it."""

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
    version: str = ""                                  # the dataset version now in curated/
    changes: dict[str, int] = field(default_factory=dict)   # this run: images whose status or split changed, by new state
    inactive: dict[str, int] = field(default_factory=dict)  # classes no longer in harvest.json: their images kept
    notes: tuple[str, ...] = ()                        # things the user should know (split rules, no test split)


def curate(ws: Workspace, config: CurateConfig, progress: Progress | None = None) -> CurateSummary:
    """One curate. Its stage_runs row gets `ended_at` only once the new version is published: a
    killed curate is visible as unfinished (`workspace.dataset.curate_state`)."""
    ws_config = ws.config()
    with open_executors(config.cluster, str(ws.root), config.workers, config.band_join_above) as executors, \
            ws.catalog() as catalog, stage_run(catalog, "curate", asdict(config)) as stage:
        previous = last_params(catalog, "curate", finished=True)
        before = image_states(catalog)
        inactive = sync_active_classes(catalog, ws_config.class_names)
        analysed = adopt_ingest_analysis(catalog, config) + _analyse_new(ws, catalog, config, executors, progress)
        items = _dedupe_items(catalog)
        candidates = ceiling_candidates(items, config.threshold, executors.pair_search(2 * len(items)),
                                        config.similar_margin)  # one search and one score per pair serve every rule
        calibration = calibrate(items, config.threshold, seed=config.seed, candidates=candidates)
        judgement = judge(items, calibration.rule, candidates=candidates)
        _record_calibration(catalog, stage, config, calibration)
        possible = _record_pairs(catalog, items, judgement)
        applied = _apply_decisions(catalog, items, judgement, calibration, config, candidates)
        version = dataset_fingerprint(catalog, ws_config.class_names, asdict(config.resize_spec))
        written, removed = _materialise(ws, catalog, config, ws_config.class_names, version, executors, progress)
        summary = CurateSummary(analysed, applied.rejected, applied.duplicates, applied.conflicts,
                                applied.splits, written, removed, applied.unlabelled, possible,
                                calibration.as_dict(), calibration.describe(), version,
                                changes(before, image_states(catalog)), inactive,
                                split_notes(config.split, config.resplit, previous, applied.splits,
                                            applied.new_test_classes))
        with catalog.transaction() as conn:
            conn.execute("INSERT INTO dataset_versions (version, stage_run, classes, counts, created_at)"
                         " VALUES (?, ?, ?, ?, ?)", (version, stage.id, json.dumps(ws_config.class_names),
                                                     json.dumps(applied.splits), utc_now()))
            stage.finish(asdict(summary), conn)
    return summary


def _record_calibration(catalog: Catalog, stage: StageRun, config: CurateConfig, calibration: Calibration) -> None:
    """The stage's saved config gets the effective radii it ran with, beside the flags it was given."""
    stage.set_params({**asdict(config), "calibration": calibration.as_dict()})


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
                       f" AND status IN ({','.join('?' * len(JUDGED_EACH_CURATE))})", JUDGED_EACH_CURATE)
    jobs = [f"{r['id']}\0{ws.root / r['path']}\0{cache_path(ws, r['id'], config.resize_spec)}" for r in rows]
    done = 0
    analyse_and_cache = partial(analyse, spec=config.resize_spec)  # one decode: the output is cached too
    for batch in map_batches(executors, analyse_and_cache, jobs, config.limits):
        with catalog.transaction() as conn:
            for result in batch:
                _record_analysis(conn, result, config)
        done += len(batch)
        if progress:
            progress(done, len(jobs))
    return len(jobs)


def _record_analysis(conn: sqlite3.Connection, result: Analysis, config: CurateConfig) -> None:
    if result.signature is None:
        reject_many(conn, [(result.id, result.reason, None)])
        return
    rejecting = [f for f in result.flags if f in config.reject_flags]
    h = result.signature.hashes
    conn.execute(
        "UPDATE images SET phash = ?, phash_flip = ?, dhash = ?, dhash_flip = ?, crop_hashes = ?, thumb = ?,"
        " flags = ? WHERE id = ?",
        (h.phash, h.phash_flip, h.dhash, h.dhash_flip, result.signature.crop_hashes, result.signature.thumb,
         ",".join(result.flags) or None, result.id))
    if rejecting:
        reject_flagged(conn, [(result.id, rejecting[0])])


def current_split(row) -> str | None:
    """The split an image already has: an accepted image's, or a test split pinned at import
    (`--test FOLDER`) before the image was ever curated."""
    if row["status"] == ImageStatus.ACCEPTED or (row["status"] == ImageStatus.STORED and row["split"] == "test"):
        return row["split"]
    return None


def _dedupe_items(catalog: Catalog) -> list[DedupeItem]:
    rows = catalog.all(
        "SELECT * FROM images WHERE dhash_flip IS NOT NULL AND ingest_analysis IS NULL"  # not adopted yet: next run
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
    new_test_classes: tuple[str, ...] = ()


def split_groups(items: list[DedupeItem], judgement: Judgement, calibration: Calibration,
                 margin: int, candidates: Candidates | None = None) -> dict[str, str]:
    """Group id of each item for the split. Look-alikes (both hashes within the calibrated radii
    + `margin`), confirmed pairs (linking kept images through their duplicates) and possible
    duplicates within the calibrated radii share a split. Possible duplicates found only by the
    ceiling rule do not: in a low-variance domain they chain whole classes together."""
    rule = calibration.rule
    finder = UnionFind(len(items))
    for i, j in similar_links(items, rule, margin, candidates=candidates):
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
                     config: CurateConfig, candidates: Candidates | None = None) -> _Applied:
    rows = {r["id"]: r for r in catalog.all("SELECT id, class, label_source, split, status FROM images")}
    decisions = judgement.decisions
    kept = [d for d in decisions if d.status == "kept"]
    trainable = [d for d in kept if d.class_name and rows[d.id]["label_source"] not in UNJUDGED_LABELS]
    group_of = split_groups(items, judgement, calibration, config.similar_margin, candidates)
    plan = plan_splits(
        [SplitItem(d.id, d.class_name or "", group_of[d.id],
                   current_split(rows[d.id]),
                   rows[d.id]["label_source"]) for d in trainable],
        config.split, config.seed, config.resplit)
    counts: Counter[str] = Counter()
    splits: dict[str, dict[str, int]] = {}
    verdicts = Verdicts()
    for d in decisions:
        row = rows[d.id]
        if d.status == "duplicate":
            verdicts.mark_duplicate(d.id, d.reason, d.duplicate_of, d.group_id)
            counts["duplicate"] += 1
        elif d.status == "conflict":
            verdicts.mark_conflict(d.id, d.reason, d.group_id)
            counts["conflict"] += 1
        elif d.id in plan.assignments:
            split = plan.assignments[d.id]
            verdicts.accept(d.id, group_of[d.id], split)
            splits.setdefault(row["class"], {}).setdefault(split, 0)
            splits[row["class"]][split] += 1
        elif d.id in plan.excluded:
            verdicts.exclude(d.id, plan.excluded[d.id], group_of.get(d.id))
            counts[plan.excluded[d.id]] += 1
        else:  # kept but not yet judged (pool / round candidates)
            verdicts.mark_unlabelled(d.id, d.group_id)
            counts["unlabelled"] += 1
    with catalog.transaction() as conn:
        record_verdicts(conn, verdicts)
    rejected = rejected_by_reason(catalog)
    return _Applied(rejected, counts["duplicate"], counts["conflict"], splits, counts["unlabelled"],
                    plan.new_test_classes)


def _materialise(ws: Workspace, catalog: Catalog, config: CurateConfig, class_names: list[str], version: str,
                 executors: ExecutorFactory, progress: Progress | None) -> tuple[int, int]:
    """Build the next curated/ aside (unchanged files linked, others encoded), then swap it in;
    a build that fails is removed (a killed one is removed by the next curate)."""
    build = begin_build(ws)
    try:
        return _build_and_swap(ws, catalog, config, class_names, version, build, executors, progress)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise


def _build_and_swap(ws: Workspace, catalog: Catalog, config: CurateConfig, class_names: list[str], version: str,
                    build: Path, executors: ExecutorFactory, progress: Progress | None) -> tuple[int, int]:
    spec = json.dumps(asdict(config.resize_spec), sort_keys=True)
    current = ws.curated_dir / ".resize.json"
    published = published_files(ws)
    reusable = published if current.is_file() and current.read_text() == spec else {}
    rows = catalog.all("SELECT id, path, class, split, curated_path FROM images WHERE status='accepted'")
    wanted = {r["id"]: f"{r['split']}/{r['class']}/{r['id']}.{config.format}" for r in rows}
    todo = []
    for r in rows:
        old = reusable.get(r["id"])
        if old is not None and old.suffix == f".{config.format}":
            link_or_copy(old, build / wanted[r["id"]])
        else:
            todo.append(r)
    jobs = [f"{r['id']}\0{ws.root / r['path']}\0{build / wanted[r['id']]}\0{cache_path(ws, r['id'], config.resize_spec)}"
            for r in todo]
    jobs = [job for job in jobs if not place_cached(job)]  # outputs made at analysis: no decode
    failures = _map_resize(jobs, config, executors)
    with catalog.transaction() as conn:
        reject_many(conn, [(image_id, reason, None) for image_id, reason in failures.items()])
        for image_id in failures:  # their curated_path is cleared below with every row not accepted
            wanted.pop(image_id)
        conn.executemany("UPDATE images SET curated_path=?, curated_at=CASE WHEN curated_path IS ? THEN curated_at"
                         " ELSE ? END WHERE id=?",
                         [(f"curated/{path}", f"curated/{path}", utc_now(), image_id)
                          for image_id, path in wanted.items()])
        conn.execute("UPDATE images SET curated_path=NULL WHERE status != 'accepted' AND curated_path IS NOT NULL")
    _make_class_dirs(build, class_names)
    _write_metadata(build, catalog)
    (build / ".resize.json").write_text(spec)
    (build / "dataset.json").write_text(json.dumps(
        {"version": version, "classes": class_names, "created_at": utc_now()}, indent=2) + "\n")
    kept = set(wanted.values())
    removed = sum(1 for path in published.values() if path.relative_to(path.parents[2]).as_posix() not in kept)
    swap_in(ws, build, version)
    shutil.rmtree(resized_cache(ws), ignore_errors=True)  # outputs of images not accepted
    if progress:
        progress(len(todo), len(todo))
    return len(todo) - len(failures), removed


def _map_resize(jobs: list[str], config: CurateConfig, executors: ExecutorFactory) -> dict[str, str]:
    """Resize and write the curated files where the executors run; returns the failures."""
    return {image_id: reason for batch in map_batches(executors, resize_job, jobs, config.resize_spec, config.limits)
            for image_id, reason in batch if reason}


def _make_class_dirs(build: Path, class_names: list[str]) -> None:
    """Every class folder in every split, empty or not: Keras indexes classes by folder, so all
    splits must list the same classes in the same order."""
    for split in SPLITS:
        for name in class_names:
            (build / split / name).mkdir(parents=True, exist_ok=True)


def _write_metadata(build: Path, catalog: Catalog) -> None:
    """curated/metadata.csv: Hugging Face imagefolder's file_name column plus our labels."""
    rows = catalog.all("SELECT id, curated_path, class, split, label_source, confidence, round, source, sha256"
                       " FROM images WHERE status='accepted' AND curated_path IS NOT NULL ORDER BY curated_path")
    path = build / "metadata.csv"
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", "label", "split", "id", "label_source", "confidence", "round", "source", "sha256"])
        for r in rows:
            writer.writerow([r["curated_path"].removeprefix("curated/"), r["class"], r["split"], r["id"],
                             r["label_source"], r["confidence"], r["round"], r["source"], r["sha256"]])
    os.replace(tmp, path)
