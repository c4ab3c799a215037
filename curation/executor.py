"""Where curate's per-image work runs: the one factory the pipeline takes its executors from.

The local default is unchanged: small batches in-process, otherwise a spawn-based process pool
over every core. A Dask cluster (`cluster.session`) plugs in through the same two methods, so the
pipeline never knows which it has. Kept light: a spawned worker imports this module to run a batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, Protocol

from curation.lifetime import die_with_parent

if TYPE_CHECKING:  # a spawned worker imports this module: keep the dedupe code out of it
    from curation.pairs import PairSearch

IN_PROCESS_BELOW = 64  # fewer jobs than this are not worth starting processes for


class ExecutorFactory(Protocol):
    """What the pipeline needs from a place to run work."""

    batch: int

    def open(self, jobs: int) -> AbstractContextManager[Executor | None]:
        """An executor for `jobs` jobs, or None to run them in this process."""

    def pair_search(self, size: int) -> PairSearch | None:
        """The self-join to use for `size` hashes, or None for the local index."""


def spawn_pool(workers: int) -> ProcessPoolExecutor:
    """Fresh worker processes (spawn: no forked copy of a threaded parent) that die with this
    process (`curation.lifetime`): a killed curate or crawl takes its workers along."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=die_with_parent)


@dataclass(frozen=True)
class LocalExecutors:
    """The process pool of one machine; the band join only past `band_join_above` hashes."""

    workers: int
    band_join_above: int = 0          # 0: never
    batch: int = 16

    @contextmanager
    def open(self, jobs: int) -> Iterator[Executor | None]:
        if jobs < IN_PROCESS_BELOW or self.workers == 1:
            yield None
            return
        with spawn_pool(self.workers) as pool:
            yield pool

    def pair_search(self, size: int) -> PairSearch | None:
        if not self.band_join_above or size <= self.band_join_above:
            return None
        from cluster.band_join import band_join_pairs

        return band_join_pairs  # Dask's local scheduler: no cluster starts


def open_executors(cluster: str | None, root: str, workers: int,
                   band_join_above: int = 0) -> AbstractContextManager[ExecutorFactory]:
    """The local pool, or (with `cluster`) a connected, probed Dask cluster."""
    if cluster:
        from cluster.session import cluster_executors

        return cluster_executors(cluster, root)
    return nullcontext(LocalExecutors(workers or os.cpu_count() or 1, band_join_above))


def run_batch(function: Callable[..., Any], jobs: list, *args: Any) -> list:
    """One task: `function(job, *args)` for each job of a batch."""
    return [function(job, *args) for job in jobs]


def map_batches(factory: ExecutorFactory, function: Callable[..., Any], jobs: list,
                *args: Any) -> Iterator[list]:
    """Results of `function(job, *args)`, one list per batch, in the order batches finish."""
    batches = [jobs[start:start + factory.batch] for start in range(0, len(jobs), factory.batch)]
    with factory.open(len(jobs)) as executor:
        if executor is None:
            for batch in batches:
                yield run_batch(function, batch, *args)
            return
        futures = [executor.submit(run_batch, function, batch, *args) for batch in batches]
        for future in as_completed(futures):
            yield future.result()
