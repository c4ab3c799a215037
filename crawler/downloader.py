"""Concurrent downloads of pending candidates into the workspace, one catalog row per outcome.

Resumable by construction: a candidate stays `pending` until its final status is written, a
download is streamed to a temp file and only ingested (renamed into content-addressed storage)
when complete, and a URL already recorded as an image is never fetched again.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial

from crawler.fetch_pool import FetchPool
from crawler.fetcher import Fate, Fetcher, FetchSetup, Outcome
from crawler.http import HostLimiter, HttpPolicy
from crawler.requeue import policy_record
from curation.executor import IN_PROCESS_BELOW
from curation.ingest_analysis import analysis_key, store_analysis, workspace_resize_spec
from workspace.catalog import Catalog, utc_now
from workspace.layout import Workspace
from workspace.progress import Progress
from workspace.storage import IngestMeta, IngestResult, record_in

log = logging.getLogger(__name__)

POOL_FROM = IN_PROCESS_BELOW  # a batch this large downloads in the fetch pool's processes
BATCH = 64              # fates per catalog transaction ...
FLUSH_SECONDS = 0.5     # ... or fewer, when this long has passed since the last


@dataclass(frozen=True)
class DownloadSummary:
    attempted: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    cancelled: bool = False


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
    """Holds the HTTP client, the per-host limits and (for large batches) the fetch pool of one job."""

    def __init__(self, ws: Workspace, catalog: Catalog, policy: HttpPolicy, workers: int = 8,
                 label_source: str = "query", round_: int | None = None) -> None:
        self.ws, self.catalog, self.policy = ws, catalog, policy
        self.workers = max(1, workers)
        self.label_source, self.round = label_source, round_
        self.resize_spec = workspace_resize_spec(ws)   # the output a plain curate makes: cached at ingest
        self.setup = FetchSetup(str(ws.root), policy, self.resize_spec)
        self.limiter = HostLimiter(policy.per_host)
        self._policy_record = policy_record(policy)
        self._fetcher: Fetcher | None = None           # this process's, for batches too small for the pool
        self.pool: FetchPool | None = None             # processes, for batches worth starting them for

    @cached_property
    def analysis_key(self) -> str:
        """Computed at the first stored analysis: it loads the analysis code, which a crawl whose
        checks all run in the pool never needs in this process."""
        return analysis_key(self.resize_spec)

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = Fetcher(self.setup, pool_size=max(16, self.workers), limiter=self.limiter)
        return self._fetcher

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()
        if self.pool is not None:
            self.pool.close()

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
        """Download `rows` (candidate rows) concurrently; returns counts by outcome. A large batch
        is fetched and checked in the fetch pool's processes, a small one in this process's
        threads; either way this thread alone writes the fates, a batch per transaction
        (`FateWriter`)."""
        tally = Tally(len(rows), progress)
        feed = RowFeed(rows, cancel)
        stored = StoredUrls(self.catalog, rows)
        fates: queue.SimpleQueue[Fate | BaseException | None] = queue.SimpleQueue()
        to_fetch = partial(self._next_to_fetch, feed, stored, fates)
        if len(rows) >= POOL_FROM:
            if self.pool is None:
                self.pool = FetchPool(self.setup, self.workers)
            producers = [threading.Thread(target=self.pool.feed, args=(to_fetch, fates, self.limiter),
                                          name="fetch_feed", daemon=True)]
        else:
            producers = [threading.Thread(target=self._fetch_all, args=(to_fetch, fates), name=f"download_{k}",
                                          daemon=True) for k in range(min(self.workers, len(rows)))]
        for thread in producers:
            thread.start()
        failure: BaseException | None = None
        try:
            with FateWriter(self, tally) as writer:
                running = len(producers)
                while running:
                    try:
                        fate = fates.get(timeout=FLUSH_SECONDS)
                    except queue.Empty:
                        writer.add([])  # a quiet spell still commits what is waiting
                        continue
                    if fate is None:
                        running -= 1
                    elif isinstance(fate, BaseException):
                        failure = failure or fate
                        feed.stop()  # what is in flight is still recorded; nothing new starts
                    else:
                        writer.add([fate])
        finally:
            feed.stop()
            for thread in producers:
                thread.join()
        if failure is not None:
            raise failure
        return tally.summary(cancelled=feed.cancelled)

    @staticmethod
    def _next_to_fetch(feed: RowFeed, stored: StoredUrls, fates: queue.SimpleQueue) -> dict | None:
        """The feed's next row whose URL is not an image yet, or None when it runs dry. A URL
        already stored is not fetched again: its fate (`same_url`) is handed on at once."""
        while (row := feed.next()) is not None:
            known = stored.image_of(row["url"])
            if known is None:
                return row
            fates.put(Fate(row, same_url=known))
        return None

    def _fetch_all(self, to_fetch: Callable[[], dict | None], fates: queue.SimpleQueue) -> None:
        """A download thread of this process: fetch rows until they run dry; an error ends the
        thread and is handed on for the writer's thread to raise."""
        try:
            while (row := to_fetch()) is not None:
                fates.put(self.fetcher.fetch(row))
        except BaseException as exc:  # noqa: BLE001 - re-raised by download()
            fates.put(exc)
        finally:
            fates.put(None)

    def record_fate(self, conn: sqlite3.Connection, fate: Fate) -> Outcome:
        """Write one fate inside the writer's transaction: its image row (and stored analysis)
        and the candidate's final status, together."""
        row = fate.row
        if fate.same_url is not None:
            return self._write_fate(conn, Outcome(row["id"], "duplicate", "same_url", fate.same_url))
        conn.execute("UPDATE candidates SET attempts = attempts + 1 WHERE id = ?", (row["id"],))
        if fate.outcome is not None:
            return self._write_fate(conn, fate.outcome)
        assert fate.checked is not None and fate.sha is not None
        checked = fate.checked
        ingested = record_in(conn, fate.sha, fate.size, fate.rel, checked.info, checked.reason, self.ingest_meta(row))
        if ingested.new and ingested.status != "rejected" and checked.analysis is not None:
            store_analysis(conn, ingested.image_id, checked.analysis, self.analysis_key)
        return self._write_fate(conn, self._outcome(conn, row, ingested))

    def ingest_meta(self, row: dict) -> IngestMeta:
        return IngestMeta(source=row["url"], class_name=row["class"], label_source=self.label_source,
                          page_url=row["page_url"], query=row["query"], engine=row["engine"],
                          candidate_id=row["id"], round=self.round)

    @staticmethod
    def _outcome(conn: sqlite3.Connection, row: dict, ingested: IngestResult) -> Outcome:
        if ingested.status == "rejected":
            return Outcome(row["id"], "failed", ingested.reason, ingested.image_id)
        if ingested.status == "duplicate" or not ingested.new:
            return Outcome(row["id"], "duplicate", ingested.reason or "exact_duplicate", ingested.image_id)
        if row.get("is_thumbnail"):
            conn.execute("UPDATE images SET flags = 'thumbnail' WHERE id = ?", (ingested.image_id,))
        return Outcome(row["id"], "stored", None, ingested.image_id)

    def _write_fate(self, conn: sqlite3.Connection, outcome: Outcome) -> Outcome:
        """The candidate's final status; a failure keeps the settings it happened under (see
        crawler/requeue.py)."""
        policy = self._policy_record if outcome.status in ("failed", "skipped") else None
        conn.execute(
            "UPDATE candidates SET status = ?, reason = ?, image_id = ?, policy = ?, updated_at = ? WHERE id = ?",
            (outcome.status, outcome.reason, outcome.image_id, policy, utc_now(), outcome.candidate_id),
        )
        return outcome


class RowFeed:
    """The rows of one download, handed out one at a time to the download threads until they
    run out or the crawl is cancelled (or stopped by an error)."""

    def __init__(self, rows: list[dict], cancel: threading.Event | None) -> None:
        self._rows = iter(rows)
        self._left = len(rows)
        self._cancel = cancel
        self._stopped = False
        self._lock = threading.Lock()

    def next(self) -> dict | None:
        with self._lock:
            if self._stopped or self._left == 0 or (self._cancel is not None and self._cancel.is_set()):
                return None
            self._left -= 1
            return next(self._rows)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True

    @property
    def cancelled(self) -> bool:
        """Rows were left undone because the crawl was cancelled."""
        return bool(self._cancel is not None and self._cancel.is_set() and self._left)


class StoredUrls:
    """Which of a batch's URLs are already images: one query for the batch, then a live lookup
    only for a URL the batch holds twice, whose first copy may be stored while the batch runs."""

    QUERY_CHUNK = 500  # URLs per query, under SQLite's parameter limit

    def __init__(self, catalog: Catalog, rows: list[dict]) -> None:
        self.catalog = catalog
        seen = Counter(row["url"] for row in rows)
        self.repeated = {url for url, count in seen.items() if count > 1}
        self.known: dict[str, str] = {}
        urls = list(seen)
        for start in range(0, len(urls), self.QUERY_CHUNK):
            chunk = urls[start:start + self.QUERY_CHUNK]
            found = catalog.all(f"SELECT source, id FROM images WHERE source IN ({','.join('?' * len(chunk))})"
                                " ORDER BY added_at DESC", chunk)
            self.known.update((row["source"], row["id"]) for row in found)  # the earliest added wins

    def image_of(self, url: str) -> str | None:
        """The id of the first image stored from `url`, or None."""
        if url in self.known or url not in self.repeated:
            return self.known.get(url)
        row = self.catalog.one("SELECT id FROM images WHERE source = ? ORDER BY added_at LIMIT 1", (url,))
        return row["id"] if row else None


class FateWriter:
    """Records fates a batch per transaction: every BATCH fates or FLUSH_SECONDS, and on exit.
    A candidate is `pending` until its batch commits, so a killed crawl loses no fate: what was
    not committed is downloaded again by the next run (its file, already in raw/, is reused)."""

    def __init__(self, downloader: Downloader, tally: Tally) -> None:
        self.downloader, self.tally = downloader, tally
        self.waiting: list[Fate] = []
        self.last = time.monotonic()

    def __enter__(self) -> FateWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def add(self, fates: list[Fate]) -> None:
        self.waiting.extend(fates)
        if len(self.waiting) >= BATCH or time.monotonic() - self.last >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        if not self.waiting:
            return
        fates, self.waiting = self.waiting, []
        with self.downloader.catalog.transaction() as conn:
            outcomes = [self.downloader.record_fate(conn, fate) for fate in fates]
        for outcome in outcomes:
            self.tally.add(outcome)


def download_pending(ws: Workspace, catalog: Catalog, *, policy: HttpPolicy, workers: int = 8,
                     classes: list[str] | None = None, cancel: threading.Event | None = None,
                     progress: Progress | None = None) -> DownloadSummary:
    """Download every pending candidate (optionally of some classes only)."""
    with Downloader(ws, catalog, policy, workers) as downloader:
        rows = [r for r in downloader.pending() if classes is None or r["class"] in classes]
        return downloader.download(rows, cancel=cancel, progress=progress)
