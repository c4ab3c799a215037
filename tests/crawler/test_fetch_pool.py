"""The fetch pool (stop 26): large batches fetched and checked in worker processes, each with
its own download threads. A dead worker costs no row, and the per-host limit holds across
workers."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crawler.fetch_pool import FetchPool
from crawler.fetcher import Fate, FetchSetup
from crawler.http import HostLimiter, HttpPolicy
from tests.crawler.test_ingest_analysis import noise_jpeg
from tests.support.fault_server import FaultServer
from workspace.layout import Workspace, init_workspace

LOCAL = HttpPolicy(connect_timeout=2, read_timeout=10, deadline=20, retries=0, allow_private=True)


def run_feed(pool: FetchPool, rows: list[dict], limiter: HostLimiter) -> tuple[threading.Thread, queue.SimpleQueue]:
    """`pool.feed` over `rows` in a thread, as the downloader runs it; returns the thread and its sink."""
    left = iter(rows)
    sink: queue.SimpleQueue = queue.SimpleQueue()
    thread = threading.Thread(target=pool.feed, args=(lambda: next(left, None), sink, limiter))
    thread.start()
    return thread, sink


def fates_of(sink: queue.SimpleQueue) -> list[Fate]:
    fates = []
    while (fate := sink.get(timeout=120)) is not None:
        assert isinstance(fate, Fate), fate
        fates.append(fate)
    return fates


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@contextmanager
def served_pool(tmp_path: Path, images: int, concurrency: int,
                processes: int) -> Iterator[tuple[Workspace, FaultServer, FetchPool]]:
    """A workspace, a local server of `images` distinct photos, and a fetch pool, closed after."""
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    with FaultServer(images={f"{i}.jpg": noise_jpeg(i) for i in range(images)}) as server:
        pool = FetchPool(FetchSetup(str(ws.root), LOCAL, None), concurrency=concurrency, processes=processes)
        try:
            yield ws, server, pool
        finally:
            pool.close()


def test_a_dead_fetch_worker_costs_no_row_and_is_replaced(tmp_path: Path) -> None:
    with served_pool(tmp_path, images=6, concurrency=4, processes=1) as (ws, server, pool):
        first = pool.pids
        rows = [{"id": i, "url": server.url(f"/gate/{i}.jpg")} for i in range(4)]
        thread, sink = run_feed(pool, rows, HostLimiter(8))
        wait_for(lambda: server.hits.total() == 4)  # all four held by the worker, waiting at the gate
        os.kill(first[0], signal.SIGKILL)           # as a decoder crash would
        wait_for(lambda: pool.pids != first)
        server.gate.set()
        thread.join(120)
        fates = fates_of(sink)
        assert sorted(f.row["id"] for f in fates) == [0, 1, 2, 3]
        assert all(f.checked is not None and f.checked.reason is None and f.rel for f in fates)
        assert all((ws.root / f.rel).is_file() for f in fates)
        more = [{"id": 10 + i, "url": server.url(f"/ok/{4 + i}.jpg")} for i in range(2)]
        thread, sink = run_feed(pool, more, HostLimiter(8))  # the replacement takes the next rows
        thread.join(120)
        assert sorted(f.row["id"] for f in fates_of(sink)) == [10, 11]
    assert not any(Path(f"/proc/{pid}").exists() for pid in pool.pids), "the workers outlived close()"


def test_the_per_host_limit_holds_across_workers(tmp_path: Path) -> None:
    with served_pool(tmp_path, images=16, concurrency=8, processes=2) as (_, server, pool):
        rows = [{"id": i, "url": server.url(f"/slow/{i}.jpg?ms=100")} for i in range(16)]
        thread, sink = run_feed(pool, rows, HostLimiter(2))
        thread.join(120)
        fates = fates_of(sink)
    assert len(fates) == 16 and all(f.rel for f in fates)
    assert server.peak == 2, f"{server.peak} requests at once from one host, limit 2"
