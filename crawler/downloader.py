"""Concurrent downloads of pending candidates into the workspace, one catalog row per outcome.

Resumable by construction: a candidate stays `pending` until its final status is written, a
download is streamed to a temp file and only ingested (renamed into content-addressed storage)
when complete, and a URL already recorded as an image is never fetched again.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import requests

from crawler.http import FetchResult, HostLimiter, HttpPolicy, fetch_to_file, make_session
from crawler.requeue import policy_record
from workspace.catalog import Catalog, utc_now
from workspace.layout import Workspace
from workspace.progress import Progress
from workspace.storage import IngestMeta, IngestResult, ingest_file, temp_path

log = logging.getLogger(__name__)

SKIP_REASONS = frozenset({"robots_noai", "private_address", "blocked_address", "bad_url"})


@dataclass(frozen=True)
class DownloadSummary:
    attempted: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    cancelled: bool = False


@dataclass(frozen=True)
class Outcome:
    candidate_id: int
    status: str          # stored | duplicate | failed | skipped
    reason: str | None
    image_id: str | None


class Tally:
    """Outcomes counted as they are recorded, and the progress callback fed."""

    def __init__(self, total: int, progress: Progress | None = None) -> None:
        self.total, self.progress, self.done = total, progress, 0
        self.counts: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    def add(self, outcome: Outcome) -> None:
        self.done += 1
        self.counts[outcome.status] += 1
        if outcome.status in ("failed", "skipped"):
            self.failed[outcome.reason or "unknown"] += 1
        if self.progress:
            self.progress(self.done, self.total)

    def summary(self, cancelled: bool) -> DownloadSummary:
        return DownloadSummary(attempted=self.done, stored=self.counts["stored"],
                               duplicates=self.counts["duplicate"], failed=dict(self.failed), cancelled=cancelled)


class Downloader:
    """Holds the pooled session and per-host limits for one job."""

    def __init__(self, ws: Workspace, catalog: Catalog, policy: HttpPolicy, workers: int = 8,
                 label_source: str = "query", round_: int | None = None) -> None:
        self.ws, self.catalog, self.policy = ws, catalog, policy
        self.workers = max(1, workers)
        self.label_source, self.round = label_source, round_
        self.session: requests.Session = make_session(policy, pool_size=max(16, self.workers))
        self.limiter = HostLimiter(policy.per_host)
        self._policy_record = policy_record(policy)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pending(self, class_name: str | None = None, limit: int | None = None) -> list[dict]:
        sql = "SELECT * FROM candidates WHERE status = 'pending'"
        params: list[object] = []
        if class_name is not None:
            sql += " AND class = ?"
            params.append(class_name)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [dict(r) for r in self.catalog.all(sql, params)]

    def download(self, rows: list[dict], cancel: threading.Event | None = None,
                 progress: Progress | None = None) -> DownloadSummary:
        """Download `rows` (candidate rows) concurrently; returns counts by outcome."""
        tally = Tally(len(rows), progress)
        todo = list(rows)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="download") as pool:
            running: set[Future[Outcome]] = set()
            while todo or running:
                while todo and len(running) < self.workers * 2 and not (cancel and cancel.is_set()):
                    running.add(pool.submit(self.download_one, todo.pop(0)))
                if not running:
                    break
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    tally.add(future.result())
        return tally.summary(cancelled=bool(cancel and cancel.is_set() and todo))

    def download_one(self, row: dict) -> Outcome:
        """Fetch one candidate and record its fate; a URL already stored is not fetched again."""
        known = self.already_stored(row)
        if known is not None:
            return known
        self.catalog.execute("UPDATE candidates SET attempts = attempts + 1, updated_at = ? WHERE id = ?",
                             (utc_now(), row["id"]))
        tmp = temp_path(self.ws)
        try:
            result = fetch_to_file(self.session, row["url"], tmp, self.policy, self.limiter)
            outcome = self._ingest(row, tmp, result)
        finally:
            tmp.unlink(missing_ok=True)
        return self._finish(row, outcome)

    def _ingest(self, row: dict, tmp, result: FetchResult) -> Outcome:
        if not result.ok:
            return self.fetch_failed(row, result.reason)
        ingested = ingest_file(self.ws, self.catalog, tmp, self.ingest_meta(row), move=True,
                               max_pixels=self.policy.max_pixels)
        return self.ingested(row, ingested)

    @staticmethod
    def fetch_failed(row: dict, reason: str | None) -> Outcome:
        status = "skipped" if reason in SKIP_REASONS else "failed"
        return Outcome(row["id"], status, reason, None)

    def ingest_meta(self, row: dict) -> IngestMeta:
        return IngestMeta(source=row["url"], class_name=row["class"], label_source=self.label_source,
                          page_url=row["page_url"], query=row["query"], engine=row["engine"],
                          candidate_id=row["id"], round=self.round)

    def ingested(self, row: dict, ingested: IngestResult) -> Outcome:
        """The candidate's outcome once its file is recorded (here, or by a cluster worker)."""
        if ingested.status == "rejected":
            return Outcome(row["id"], "failed", ingested.reason, ingested.image_id)
        if ingested.status == "duplicate" or not ingested.new:
            return Outcome(row["id"], "duplicate", ingested.reason or "exact_duplicate", ingested.image_id)
        if row.get("is_thumbnail"):
            self.catalog.execute("UPDATE images SET flags = 'thumbnail' WHERE id = ?", (ingested.image_id,))
        return Outcome(row["id"], "stored", None, ingested.image_id)

    def already_stored(self, row: dict) -> Outcome | None:
        """The recorded outcome `same_url` when the URL is already an image, else None."""
        known = self.catalog.one(
            "SELECT id, status FROM images WHERE source = ? ORDER BY added_at LIMIT 1", (row["url"],))
        if known is None:
            return None
        return self._finish(row, Outcome(row["id"], "duplicate", "same_url", known["id"]))

    def _finish(self, row: dict, outcome: Outcome) -> Outcome:
        """Record the fate; a failure keeps the settings it happened under (see crawler/requeue.py)."""
        policy = self._policy_record if outcome.status in ("failed", "skipped") else None
        self.catalog.execute(
            "UPDATE candidates SET status = ?, reason = ?, image_id = ?, policy = ?, updated_at = ? WHERE id = ?",
            (outcome.status, outcome.reason, outcome.image_id, policy, utc_now(), outcome.candidate_id),
        )
        return outcome


def download_pending(ws: Workspace, catalog: Catalog, *, policy: HttpPolicy, workers: int = 8,
                     classes: list[str] | None = None, cancel: threading.Event | None = None,
                     progress: Progress | None = None) -> DownloadSummary:
    """Download every pending candidate (optionally of some classes only)."""
    with Downloader(ws, catalog, policy, workers) as downloader:
        rows = [r for r in downloader.pending() if classes is None or r["class"] in classes]
        return downloader.download(rows, cancel=cancel, progress=progress)
