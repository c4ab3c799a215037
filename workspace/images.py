"""The image lifecycle: the statuses, label sources and splits of `images` rows, and the only
code that moves a row from one status to another.

    ingest ──► stored ─┬─► accepted (split) ──► rejected / duplicate / conflict / stored ...
           └─► unlabelled ─► stored (a label: pseudo-label, query label) ─► curate again
           └─► rejected | duplicate (exact copy)

A curate re-derives every judged row's status each run (`record_verdicts`); the other stages
make the named moves below. Every transition runs on a connection inside the caller's
transaction (`Catalog.transaction()`), so a stage's decisions land together or not at all, and
the batched forms use one `executemany` per kind (curate moves 100k rows at a time).
Values are the strings stored in SQLite: the enums are `str`s and bind as such.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from workspace.catalog import Catalog
from workspace.errors import CatalogError


class ImageStatus(StrEnum):
    STORED = "stored"            # has a label, waiting for (the next) curate
    ACCEPTED = "accepted"        # curated into a split
    REJECTED = "rejected"        # out of the dataset, `reason` says why
    DUPLICATE = "duplicate"      # a copy of `duplicate_of`
    CONFLICT = "conflict"        # a copy carrying another class's label
    UNLABELLED = "unlabelled"    # valid, deduplicated, waiting for a label


class LabelSource(StrEnum):
    MANUAL = "manual"            # imported by the user
    QUERY = "query"              # the class the image was crawled for
    PSEUDO = "pseudo"            # a teacher model's label (train only)
    CANDIDATE = "candidate"      # crawled for a class in a self-training round: a hint, not yet a label
    NONE = "none"                # an unlabelled pool image


class Split(StrEnum):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"


SPLITS: tuple[Split, ...] = (Split.TRAIN, Split.VAL, Split.TEST)
UNJUDGED_LABELS: frozenset[LabelSource] = frozenset({LabelSource.CANDIDATE, LabelSource.NONE})
# Rows that count as images of their class: a crawl stops at its target of these.
VALID_STATUSES: tuple[ImageStatus, ...] = (ImageStatus.STORED, ImageStatus.ACCEPTED)
# Rows a curate analyses, deduplicates and judges again (a rejection is final, except `similar_to_*`).
JUDGED_EACH_CURATE: tuple[ImageStatus, ...] = (ImageStatus.STORED, ImageStatus.ACCEPTED, ImageStatus.DUPLICATE,
                                               ImageStatus.CONFLICT, ImageStatus.UNLABELLED)
INACTIVE_CLASS = "inactive_class"


class LifecycleError(CatalogError):
    """A transition given a value the catalog does not know (a typo would otherwise be stored)."""


def label_source(value: str) -> LabelSource:
    """A label source from user or config text, with one clear line when it is unknown."""
    try:
        return LabelSource(value)
    except ValueError:
        raise LifecycleError(f"unknown label source {value!r}; known: {', '.join(LabelSource)}") from None


def split_name(value: str) -> Split:
    try:
        return Split(value)
    except ValueError:
        raise LifecycleError(f"unknown split {value!r}; known: {', '.join(Split)}") from None


def arrival_status(class_name: str | None, source: str) -> ImageStatus:
    """The status of a valid, new image at ingest: labelled images wait for curate, unjudged ones
    (round candidates, pool images) wait for a label."""
    judged = class_name is not None and label_source(source) not in UNJUDGED_LABELS
    return ImageStatus.STORED if judged else ImageStatus.UNLABELLED


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


# -- curate: the judgement, re-derived for every row each run ----------------------------------
@dataclass
class Verdicts:
    """One curate's verdicts, collected per kind so each kind is written with one executemany."""

    duplicates: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    conflicts: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    accepted: list[tuple[str, str | None, Split]] = field(default_factory=list)
    excluded: list[tuple[str, str, str | None]] = field(default_factory=list)
    unlabelled: list[tuple[str, str | None]] = field(default_factory=list)

    def mark_duplicate(self, image_id: str, reason: str | None, of: str | None, group: str | None) -> None:
        self.duplicates.append((image_id, reason, of, group))

    def mark_conflict(self, image_id: str, reason: str | None, group: str | None) -> None:
        self.conflicts.append((image_id, reason, group))

    def accept(self, image_id: str, group: str | None, split: str) -> None:
        self.accepted.append((image_id, group, split_name(split)))

    def exclude(self, image_id: str, reason: str, group: str | None) -> None:
        """Kept by dedupe but kept out of every split (`similar_to_test`, ...): rejected."""
        self.excluded.append((image_id, reason, group))

    def mark_unlabelled(self, image_id: str, group: str | None) -> None:
        """Kept, but not judged yet (pool images, round candidates)."""
        self.unlabelled.append((image_id, group))


def record_verdicts(conn: sqlite3.Connection, verdicts: Verdicts) -> None:
    """Write a curate's verdicts: every row gets its status, reason, group and split (or none)."""
    conn.executemany("UPDATE images SET status=?, reason=?, duplicate_of=?, group_id=?, split=NULL WHERE id=?",
                     [(ImageStatus.DUPLICATE, reason, of, group, image_id)
                      for image_id, reason, of, group in verdicts.duplicates])
    conn.executemany("UPDATE images SET status=?, reason=?, duplicate_of=NULL, group_id=?, split=NULL WHERE id=?",
                     [(ImageStatus.CONFLICT, reason, group, image_id)
                      for image_id, reason, group in verdicts.conflicts])
    conn.executemany("UPDATE images SET status=?, reason=NULL, duplicate_of=NULL, group_id=?, split=? WHERE id=?",
                     [(ImageStatus.ACCEPTED, group, split, image_id) for image_id, group, split in verdicts.accepted])
    conn.executemany("UPDATE images SET status=?, reason=?, duplicate_of=NULL, group_id=?, split=NULL WHERE id=?",
                     [(ImageStatus.REJECTED, reason, group, image_id)
                      for image_id, reason, group in verdicts.excluded])
    conn.executemany("UPDATE images SET status=?, reason=NULL, duplicate_of=NULL, group_id=?, split=NULL WHERE id=?",
                     [(ImageStatus.UNLABELLED, group, image_id) for image_id, group in verdicts.unlabelled])


# -- rejections -------------------------------------------------------------------------------
def reject(conn: sqlite3.Connection, image_id: str, reason: str, confidence: float | None = None) -> None:
    """Out of the dataset for `reason` (and out of its split); `confidence`, when given, is the
    score that decided it."""
    reject_many(conn, [(image_id, reason, confidence)])


def reject_many(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, float | None]]) -> None:
    """`reject` for many (image_id, reason, confidence) rows in one statement."""
    conn.executemany("UPDATE images SET status = ?, reason = ?, confidence = COALESCE(?, confidence), split = NULL"
                     " WHERE id = ?",
                     [(ImageStatus.REJECTED, _reason(reason), confidence, image_id)
                      for image_id, reason, confidence in rows])


def reject_flagged(conn: sqlite3.Connection, rows: Iterable[tuple[str, str]]) -> None:
    """A quality flag the curate rejects on (image_id, flag): the flag is the reason. The split is
    left to the judgement, as the analysis step always has."""
    conn.executemany("UPDATE images SET status = ?, reason = ? WHERE id = ?",
                     [(ImageStatus.REJECTED, _reason(flag), image_id) for image_id, flag in rows])


def reject_labels(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, float, int]]) -> None:
    """A labelling step's refusals (image_id, reason, confidence, round): the image stays
    unjudged in spirit, and a later teacher may accept it (`waiting_for_label` reads them back)."""
    conn.executemany("UPDATE images SET status = ?, reason = ?, confidence = ?, round = ? WHERE id = ?",
                     [(ImageStatus.REJECTED, _reason(reason), confidence, round_, image_id)
                      for image_id, reason, confidence, round_ in rows])


def _reason(reason: str) -> str:
    if not reason:
        raise LifecycleError("a rejection needs a reason")
    return reason


# -- back to curation -------------------------------------------------------------------------
def return_for_curation(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, float | None, int]],
                        source: LabelSource) -> None:
    """Unjudged images that got a label (image_id, class, confidence, round) become `stored`
    under label source `source`, out of any split: the next curate judges them like the rest."""
    if source in UNJUDGED_LABELS:
        raise LifecycleError(f"an image returned for curation needs a label, not {source!r}")
    conn.executemany("UPDATE images SET class = ?, label_source = ?, status = ?, reason = NULL,"
                     " confidence = COALESCE(?, confidence), round = ?, split = NULL WHERE id = ?",
                     [(class_name, LabelSource(source), ImageStatus.STORED, confidence, round_, image_id)
                      for image_id, class_name, confidence, round_ in rows])


def release_test_split(conn: sqlite3.Connection) -> int:
    """Crawled (not manual) images leave the test split for the next curate to place again;
    returns how many."""
    return conn.execute("UPDATE images SET split = NULL, status = ?, curated_path = NULL"
                        " WHERE split = ? AND label_source != ? AND status = ?",
                        (ImageStatus.STORED, Split.TEST, LabelSource.MANUAL, ImageStatus.ACCEPTED)).rowcount


def pin_test_split(conn: sqlite3.Connection, sources: Sequence[str]) -> None:
    """Manually labelled images (by source) are pinned to test before they are ever curated."""
    for start in range(0, len(sources), 500):
        chunk = sources[start:start + 500]
        conn.execute(f"UPDATE images SET split = ? WHERE label_source = ? AND status IN (?, ?)"
                     f" AND source IN ({_marks(chunk)})",
                     (Split.TEST, LabelSource.MANUAL, ImageStatus.STORED, ImageStatus.ACCEPTED, *chunk))


# -- classes leaving and coming back ----------------------------------------------------------
def sync_class_images(conn: sqlite3.Connection, class_names: Sequence[str]) -> None:
    """Images of a class no longer configured leave the dataset (rejected, `inactive_class`);
    those of a class that came back return to `stored`. Rows and files are kept either way."""
    marks = _marks(class_names)
    conn.execute(f"UPDATE images SET status = ?, reason = NULL WHERE status = ? AND reason = ?"
                 f" AND class IN ({marks})", (ImageStatus.STORED, ImageStatus.REJECTED, INACTIVE_CLASS, *class_names))
    leaving = (ImageStatus.STORED, ImageStatus.ACCEPTED, ImageStatus.DUPLICATE, ImageStatus.CONFLICT)
    conn.execute(f"UPDATE images SET status = ?, reason = ?, split = NULL, duplicate_of = NULL"
                 f" WHERE class IS NOT NULL AND class NOT IN ({marks}) AND status IN ({_marks(leaving)})",
                 (ImageStatus.REJECTED, INACTIVE_CLASS, *class_names, *leaving))


# -- counting ---------------------------------------------------------------------------------
def count_in_class(catalog: Catalog, class_name: str, statuses: Sequence[ImageStatus] = VALID_STATUSES) -> int:
    """Rows of one class in the given statuses (any label source)."""
    return int(catalog.scalar(f"SELECT COUNT(*) FROM images WHERE class = ? AND status IN ({_marks(statuses)})",
                              (class_name, *statuses)))


def count_per_class(catalog: Catalog, statuses: Sequence[ImageStatus] = VALID_STATUSES) -> dict[str, int]:
    """{class: rows in the given statuses}; classes without any are absent."""
    rows = catalog.all(f"SELECT class, COUNT(*) AS n FROM images WHERE status IN ({_marks(statuses)})"
                       " GROUP BY class", tuple(statuses))
    return {r["class"]: r["n"] for r in rows}


def rejected_by_reason(catalog: Catalog) -> dict[str, int]:
    rows = catalog.all("SELECT reason, COUNT(*) AS n FROM images WHERE status = ? GROUP BY reason",
                       (ImageStatus.REJECTED,))
    return {r["reason"]: r["n"] for r in rows}


def accepted_per_class_and_source(catalog: Catalog) -> dict[str, dict[str, int]]:
    """{class: {label source: accepted images}}."""
    table: dict[str, dict[str, int]] = {}
    for r in catalog.all("SELECT class, label_source, COUNT(*) AS n FROM images WHERE status = ?"
                         " GROUP BY class, label_source", (ImageStatus.ACCEPTED,)):
        table.setdefault(r["class"], {})[r["label_source"]] = r["n"]
    return table
