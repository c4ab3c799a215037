"""Large batches download in worker processes, each running its own download threads: one image's
fetch, check and analysis happen in one process (img2dataset's shape), and only its fate comes
back to the crawl process, which records it.

Why not download in the crawl process and hand each file to a process pool for its check (the
design before stop 26): on 2 cores the crawl process then spent ~2.8 ms of CPU per image on HTTP,
on the pool's hand-off and on its own threads fighting for the GIL, while the checks waited for
the CPU it held. Here the crawl process only hands out rows and writes fates.

Politeness is kept where every download is seen: the crawl process hands a row out only when its
host has a free slot (`HostLimiter`) and frees the slot when the worker says the fetch is over
(`FETCHED`, before the check), so a retry's backoff holds its slot.

A worker that dies (a decoder crash on a hostile file) loses the rows it held: each is fetched
again in the crawl process and checked alone in a fresh process (`check_alone`), so only the file
that kills that process too is refused (`CRASH_REASON`); the worker is replaced.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from crawler.fetcher import Fetcher, FetchSetup
from crawler.http import HostLimiter
from curation.executor import spawn_pool
from curation.ingest_analysis import Checked, check_download
from curation.lifetime import die_with_parent
from curation.resample import blas_single_threaded
from curation.resize import ResizeSpec

log = logging.getLogger(__name__)

CRASH_REASON = "decode_error"  # the file killed the process checking it
POLL_SECONDS = 0.5             # how often the receiver looks up from its pipes (closing, deaths)
FETCHED = "fetched"            # a worker's word that a row's network part is over (its host slot is free)

Sink = queue.SimpleQueue  # of Fate, BaseException, or None when a feed's last fate is in


def check_alone(path: str, image_id: str, cache: str | None, max_pixels: int, spec: ResizeSpec | None) -> Checked:
    """`check_download` in a process of its own: its own crash costs the file a reason, nothing else."""
    with spawn_pool(1) as single:
        try:
            return single.submit(check_download, path, image_id, cache, max_pixels, spec).result()
        except BrokenProcessPool:
            log.warning("%s killed the process checking it", path)
            return Checked(None, CRASH_REASON)


def serve(conn: Connection, setup: FetchSetup, threads: int) -> None:
    """A fetch worker's main: rows in from the crawl process, fates out, `threads` at a time."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the crawl's to handle; it stops us
    blas_single_threaded()  # our threads analyse at once: see curation.resample
    fetcher = Fetcher(setup, pool_size=threads)
    tasks: queue.SimpleQueue = queue.SimpleQueue()
    sending = threading.Lock()

    def work() -> None:
        while (task := tasks.get()) is not None:
            task_id, row = task

            def fetched(task_id: int = task_id) -> None:
                with sending:
                    conn.send((task_id, FETCHED))

            try:
                result: object = fetcher.fetch(row, fetched=fetched)
            except BaseException as exc:  # noqa: BLE001 - handed to the crawl process, which raises it
                result = _portable(exc)
            with sending:
                conn.send((task_id, result))

    pool = [threading.Thread(target=work, name=f"fetch_{k}", daemon=True) for k in range(threads)]
    for thread in pool:
        thread.start()
    try:
        while (task := conn.recv()) is not None:
            tasks.put(task)
    except EOFError:
        pass  # the crawl process is gone
    for _ in pool:
        tasks.put(None)
    for thread in pool:
        thread.join()
    fetcher.close()


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it pickles, else its text as a RuntimeError."""
    try:
        pickle.dumps(exc)
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(f"{type(exc).__name__}: {exc}")


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    held: int = 0          # rows handed to it whose fates have not come back


class _Feed:
    """One `feed` call's rows in flight, so its last fate can be followed by its end mark."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.in_flight = 0
        self.done = threading.Condition()

    def started(self) -> None:
        with self.done:
            self.in_flight += 1

    def finished(self) -> None:
        with self.done:
            self.in_flight -= 1
            self.done.notify_all()

    def wait_empty(self) -> None:
        with self.done:
            self.done.wait_for(lambda: self.in_flight == 0)


@dataclass(eq=False)
class _Task:
    row: dict
    feed: _Feed
    slot: threading.BoundedSemaphore | None   # None once the host's slot is free again
    worker: _Worker

    def free_slot(self) -> None:
        """The fetch is over: the host may serve the next row (called by the receiver alone)."""
        if self.slot is not None:
            self.slot.release()
            self.slot = None


class FetchPool:
    """`concurrency` downloads at once over `processes` worker processes (default: every core),
    started here and closed by `close`. Rows go to the worker holding the fewest."""

    def __init__(self, setup: FetchSetup, concurrency: int, processes: int | None = None) -> None:
        self.setup = setup
        self.processes = max(1, min(processes or os.cpu_count() or 1, concurrency))
        self.threads = math.ceil(concurrency / self.processes)
        self._lock = threading.Lock()
        self._capacity = threading.Semaphore(self.processes * self.threads)
        self._tasks: dict[int, _Task] = {}
        self._ids = itertools.count()
        self._closing = threading.Event()
        self._alone: Fetcher | None = None
        self._workers: list[_Worker] = []
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._failure: BaseException | None = None
        # the receiver starts every worker: a worker dies with the thread that started it (prctl's
        # parent-death signal follows the thread), and the receiver lives as long as the pool
        self._receiver = threading.Thread(target=self._receive, name="fetch_receiver", daemon=True)
        self._receiver.start()
        self._started.wait()
        if self._start_error is not None:
            self._receiver.join()
            raise self._start_error

    def feed(self, rows: Callable[[], dict | None], sink: Sink, limiter: HostLimiter) -> None:
        """Hand out the rows `rows()` returns (None at their end) as capacity and their hosts'
        slots allow, put each fate into `sink`, then None once all are in. Run in a thread: it
        blocks while the workers are busy."""
        feed = _Feed(sink)
        try:
            while (row := rows()) is not None:
                self._capacity.acquire()
                if self._failure is not None:
                    raise self._failure
                slot = limiter.slot(row["url"])
                slot.acquire()
                self._send(row, feed, slot)
        except BaseException as exc:  # noqa: BLE001 - raised by the caller that reads the sink
            sink.put(exc)
        finally:
            feed.wait_empty()
            sink.put(None)

    @property
    def pids(self) -> list[int]:
        """The workers' process ids, in worker order."""
        with self._lock:
            return [w.process.pid for w in self._workers]

    def close(self) -> None:
        self._closing.set()
        self._receiver.join()
        for worker in self._workers:
            self._stop(worker)
        if self._alone is not None:
            self._alone.close()

    def _spawn(self) -> _Worker:
        context = get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(target=serve, args=(theirs, self.setup, self.threads), daemon=True,
                                  name="harvest-fetch")
        process.start()
        theirs.close()
        return _Worker(process, ours)

    @staticmethod
    def _stop(worker: _Worker) -> None:
        try:
            worker.conn.send(None)
        except OSError:
            pass  # already gone
        worker.process.join(10)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()

    def _send(self, row: dict, feed: _Feed, slot: threading.BoundedSemaphore) -> None:
        """Give a row to the live worker holding fewest. Choosing and registering happen under the
        lock that `_lost` takes to collect a dead worker's rows: a row is either collected or given
        to a live worker, never left with a dead one."""
        feed.started()
        with self._lock:
            worker = min(self._workers, key=lambda w: w.held)
            task_id = next(self._ids)
            self._tasks[task_id] = _Task(row, feed, slot, worker)
            worker.held += 1
        try:
            worker.conn.send((task_id, row))
        except OSError:
            pass  # it has just died: the receiver sees it go and redoes its rows

    def _receive(self) -> None:
        """The receiver: starts the workers, then takes fates from them until the pool closes;
        a dead worker's rows are redone."""
        try:
            self._workers = [self._spawn() for _ in range(self.processes)]
        except BaseException as exc:  # noqa: BLE001 - raised by __init__, in the caller's thread
            self._start_error = exc
            for worker in self._workers:
                self._stop(worker)
            return
        finally:
            self._started.set()
        try:
            self._receive_fates()
        except BaseException as exc:  # noqa: BLE001 - a bug here must not leave the feeds waiting forever
            log.exception("the fetch pool's receiver failed")
            self._fail_all(exc)

    def _receive_fates(self) -> None:
        while not self._closing.is_set():
            with self._lock:
                alive = list(self._workers)
            ready = wait([w.conn for w in alive] + [w.process.sentinel for w in alive], POLL_SECONDS)
            for worker in alive:  # a lost worker is replaced in self._workers: never seen twice
                still_open = worker.conn not in ready or self._drain(worker)
                if not still_open or worker.process.sentinel in ready:
                    self._lost(worker)

    def _fail_all(self, exc: BaseException) -> None:
        """The pool is broken: every row in hand fails with `exc`, and so does the next feed."""
        with self._lock:
            self._failure = exc
            tasks = list(self._tasks.values())
            self._tasks.clear()
        for task in tasks:
            task.slot = None  # its semaphore's state is unknown now; the crawl stops anyway
            self._deliver(task, exc)

    def _drain(self, worker: _Worker) -> bool:
        """Settle every fate the worker has sent; False once its pipe is closed (the worker is
        gone, or its last message was cut short: that row is redone by `_lost`)."""
        try:
            while worker.conn.poll():
                self._settle(*worker.conn.recv())
            return True
        except (EOFError, OSError):
            return False

    def _settle(self, task_id: int, result: object) -> None:
        with self._lock:
            if isinstance(result, str):  # FETCHED
                task = self._tasks.get(task_id)
                if task is not None:
                    task.free_slot()
                return
            task = self._tasks.pop(task_id, None)
            if task is None:
                return
            task.worker.held -= 1
        self._deliver(task, result)

    def _deliver(self, task: _Task, result: object) -> None:
        task.feed.sink.put(result)
        with self._lock:
            task.free_slot()
        self._capacity.release()
        task.feed.finished()

    def _lost(self, worker: _Worker) -> None:
        """A worker died: settle what it sent before dying, replace it, and redo the rest of its
        rows one by one."""
        self._drain(worker)
        replacement = self._spawn()
        with self._lock:
            self._workers[self._workers.index(worker)] = replacement
            lost = [task_id for task_id, task in self._tasks.items() if task.worker is worker]
            tasks = [self._tasks.pop(task_id) for task_id in lost]
        log.warning("a fetch worker died with %d rows in hand; they are done again one by one", len(tasks))
        worker.conn.close()
        worker.process.join()
        for task in tasks:
            threading.Thread(target=self._redo_alone, args=(task,), name="fetch_alone", daemon=True).start()

    def _redo_alone(self, task: _Task) -> None:
        """One lost row, fetched here and checked in a process of its own."""
        try:
            with self._lock:
                if self._alone is None:  # no limiter: the row's host slot, if not freed yet, is freed at delivery
                    self._alone = Fetcher(self.setup, pool_size=4)
                fetcher = self._alone
            result: object = fetcher.fetch(task.row, check=check_alone)
        except BaseException as exc:  # noqa: BLE001 - raised by the caller that reads the sink
            result = exc
        self._deliver(task, result)
