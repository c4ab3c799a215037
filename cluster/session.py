"""A connected, probed cluster as curate's executor factory (see `curation.executor`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cluster.connect import connect
from cluster.errors import ClusterError
from cluster.probe import CURATE_MODULES, probe_workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DaskExecutors:
    """Work goes to the cluster in batches (one task per batch); a task of a worker that dies is
    run again elsewhere by Dask. The near-duplicate search is the band join on the same cluster."""

    client: object
    batch: int = 32

    @contextmanager
    def open(self, jobs: int) -> Iterator[Executor]:
        with task_errors():
            yield self.client.get_executor(pure=False)

    def pair_search(self, size: int):
        from cluster.band_join import band_join_pairs

        return partial(band_join_pairs, client=self.client)


@contextmanager
def task_errors() -> Iterator[None]:
    """A task's expected failures as one line: a worker without a package, a task that kept
    killing its workers."""
    from distributed import KilledWorker

    try:
        yield
    except ModuleNotFoundError as exc:
        raise ClusterError(f"a Dask worker is missing the Python package {exc.name!r}: install Harvest "
                           "and its requirements on every worker") from exc
    except KilledWorker as exc:
        raise ClusterError(f"Dask gave up on a task after it killed several workers: {exc}") from exc


@contextmanager
def cluster_session(address: str, root: str | Path, modules: tuple[str, ...]) -> Iterator[object]:
    """A client whose every worker has passed the probe for this workspace."""
    with connect(address) as client:
        workers = probe_workspace(client, Path(root), modules)
        log.info("cluster %s: %d workers see %s", address, workers, root)
        yield client


@contextmanager
def cluster_executors(address: str, root: str | Path) -> Iterator[DaskExecutors]:
    with cluster_session(address, root, CURATE_MODULES) as client:
        yield DaskExecutors(client)
