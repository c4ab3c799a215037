"""URL-list downloads in shards on Dask workers; the driver alone records each URL's fate.

A worker fetches a shard under the same `HttpPolicy` as a local crawl (timeouts, caps, the
private-address guard, noai), hashes and checks each file and renames it into `raw/` by its
sha256, so two workers (or a retried shard) writing the same bytes write the same name. Only
metadata returns. The driver records every outcome once, through the downloader's own writer
(a batch of fates per transaction).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crawler.downloader import Downloader, DownloadSummary, FateWriter, StoredUrls, Tally
from crawler.fetcher import Fate, fetch_failed
from curation.ingest_analysis import Checked
from crawler.http import HostLimiter, HttpPolicy, fetch_to_file, make_session
from workspace.catalog import Catalog
from workspace.imagecheck import ImageInfo, InvalidImage, inspect_image
from workspace.layout import Workspace
from workspace.progress import Progress
from workspace.storage import place_blob, sha256_file

log = logging.getLogger(__name__)

SHARD = 32            # URLs per task
SHARD_THREADS = 8     # concurrent downloads inside one task


@dataclass(frozen=True)
class Fetched:
    """What a worker learnt about one URL: why the fetch failed, or the stored file's facts."""

    candidate_id: int
    fetch_reason: str | None = None       # the fetch failed (http_404, timeout, private_address, ...)
    sha256: str | None = None
    size: int = 0
    path: str | None = None               # raw/<ab>/<sha256>.<ext>, None when not an image
    info: ImageInfo | None = None
    invalid: str | None = None            # not_an_image, decompression_bomb, ...


def download_shard(root: str, urls: list[tuple[int, str]], policy: HttpPolicy) -> list[Fetched]:
    """Task: fetch (candidate id, url) pairs into the workspace at `root` (seen by every worker)."""
    ws = Workspace(Path(root))
    limiter = HostLimiter(policy.per_host)
    with make_session(policy, pool_size=SHARD_THREADS) as session, \
            ThreadPoolExecutor(SHARD_THREADS, thread_name_prefix="shard") as pool:
        return list(pool.map(lambda item: fetch_one(ws, session, limiter, policy, *item), urls))


def fetch_one(ws: Workspace, session, limiter: HostLimiter, policy: HttpPolicy, candidate_id: int,
              url: str) -> Fetched:
    ws.tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = ws.tmp_dir / f"{os.getpid()}-{uuid.uuid4().hex}.part"
    try:
        result = fetch_to_file(session, url, tmp, policy, limiter)
        if not result.ok:
            return Fetched(candidate_id, fetch_reason=result.reason)
        sha, size = sha256_file(tmp), tmp.stat().st_size
        try:
            info = inspect_image(tmp, max_pixels=policy.max_pixels)
        except InvalidImage as exc:
            return Fetched(candidate_id, sha256=sha, size=size, invalid=exc.reason)
        return Fetched(candidate_id, sha256=sha, size=size, path=place_blob(ws, tmp, sha, info.ext), info=info)
    finally:
        tmp.unlink(missing_ok=True)


class ClusterDownloader(Downloader):
    """A Downloader whose fetching happens in shards on the cluster's workers."""

    def __init__(self, ws: Workspace, catalog: Catalog, policy: HttpPolicy, client, label_source: str = "query",
                 round_: int | None = None) -> None:
        super().__init__(ws, catalog, policy, workers=1, label_source=label_source, round_=round_)
        self.client = client

    def download(self, rows: list[dict], cancel: threading.Event | None = None,
                 progress: Progress | None = None) -> DownloadSummary:
        from distributed import as_completed

        from cluster.session import task_errors

        tally = Tally(len(rows), progress)
        stored = StoredUrls(self.catalog, rows)
        with FateWriter(self, tally) as writer:
            todo = []
            for row in rows:
                known = stored.image_of(row["url"])
                if known is not None:
                    writer.add([Fate(row, same_url=known)])
                else:
                    todo.append(row)
            by_id = {row["id"]: row for row in todo}
            shards = [[(r["id"], r["url"]) for r in todo[start:start + SHARD]] for start in range(0, len(todo), SHARD)]
            futures = [self.client.submit(download_shard, str(self.ws.root), shard, self.policy, pure=False)
                       for shard in shards]
            with task_errors():
                for future in as_completed(futures):
                    if cancel is not None and cancel.is_set():
                        self.client.cancel(futures)  # unrecorded URLs stay pending for the next run
                        break
                    writer.add([self.fate(by_id[fetched.candidate_id], fetched) for fetched in future.result()])
        return tally.summary(cancelled=bool(cancel and cancel.is_set() and tally.done < len(rows)))

    def fate(self, row: dict, fetched: Fetched) -> Fate:
        """A worker's findings as the fate the local downloader's writer records (in batches)."""
        if fetched.sha256 is None:
            return Fate(row, outcome=fetch_failed(row, fetched.fetch_reason))
        return Fate(row, sha=fetched.sha256, size=fetched.size, rel=fetched.path,
                    checked=Checked(fetched.info, fetched.invalid))


@contextmanager
def cluster_downloader(ws: Workspace, catalog: Catalog, policy: HttpPolicy, address: str,
                       label_source: str = "query") -> Iterator[ClusterDownloader]:
    """A connected cluster whose workers all passed the workspace probe, as a Downloader."""
    from cluster.probe import DOWNLOAD_MODULES
    from cluster.session import cluster_session

    with cluster_session(address, ws.root, DOWNLOAD_MODULES) as client, \
            ClusterDownloader(ws, catalog, policy, client, label_source) as downloader:
        yield downloader
