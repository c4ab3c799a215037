"""The processes that check and analyse downloads, fed by the download threads.

Decoding and hashing are CPU work that the GIL would serialise in the download threads, so a
batch large enough to pay for starting processes is checked in a spawn pool over every core,
whose workers die with the crawl (`curation.lifetime`). A worker that dies (a decoder crash on a
hostile file) breaks the pool for everything in flight: the pool is replaced, each of those
files is retried alone in a fresh process, and only the one that kills that too is refused.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from curation.executor import IN_PROCESS_BELOW, spawn_pool
from curation.ingest_analysis import Checked, check_download
from curation.resize import ResizeSpec

log = logging.getLogger(__name__)

POOL_FROM = IN_PROCESS_BELOW  # fewer downloads than this are checked in the download threads
CRASH_REASON = "decode_error"  # the file killed the process decoding it


class AnalysisPool:
    """`check` a downloaded file where the cores are; started on first use, closed by `close`."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def check(self, path: Path, image_id: str, cache: Path | None, max_pixels: int,
              spec: ResizeSpec | None) -> Checked:
        args = (str(path), image_id, str(cache) if cache else None, max_pixels, spec)
        pool = self._current()
        try:
            return pool.submit(check_download, *args).result()
        except BrokenProcessPool:
            self._replace(pool)
            return _check_alone(args)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = spawn_pool(self.workers)
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                log.warning("an analysis worker died; restarting the pool")
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = spawn_pool(self.workers)


def _check_alone(args: tuple) -> Checked:
    """One file in a process of its own: its own crash costs it a reason, nothing else."""
    with spawn_pool(1) as single:
        try:
            return single.submit(check_download, *args).result()
        except BrokenProcessPool:
            log.warning("%s killed the process checking it", args[0])
            return Checked(None, CRASH_REASON)
