"""Connecting to a Dask cluster: `local[N]` starts a LocalCluster of N worker processes here;
anything else is a scheduler address. Every failure is one line, in seconds, never a hang."""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from cluster.errors import ClusterError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0      # seconds to reach a scheduler, and again for its first worker
LOCAL_ADDRESS = re.compile(r"local(?:\[(\d+)\])?")
ENV_VAR = "HARVEST_DASK_SCHEDULER"


def scheduler_address(address: str) -> str:
    """`host:port` means TCP; a full `tcp://`/`tls://` address is kept."""
    address = address.strip()
    if not address:
        raise ClusterError("--cluster needs a scheduler address (tcp://host:8786) or local[N]")
    return address if "://" in address else f"tcp://{address}"


def local_workers(address: str) -> int | None:
    """N of `local[N]` (every core for `local`), or None for a scheduler address."""
    match = LOCAL_ADDRESS.fullmatch(address.strip())
    if not match:
        return None
    workers = int(match.group(1)) if match.group(1) else (os.cpu_count() or 1)
    if workers < 1:
        raise ClusterError(f"--cluster local[N] needs N >= 1, got {address!r}")
    return workers


@contextmanager
def connect(address: str) -> Iterator:
    """A distributed Client on the cluster, version-checked, with at least one worker."""
    from distributed import Client, LocalCluster

    _quiet_dask_logs()
    workers = local_workers(address)
    if workers is not None:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as local, Client(local) as client:
            yield client
        return
    target = scheduler_address(address)
    try:
        with warnings.catch_warnings():  # a version mismatch is checked (and reported) below
            warnings.simplefilter("ignore")
            client = Client(target, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {target} within {CONNECT_TIMEOUT:g} s: "
                           f"{_first_line(exc)}") from exc
    with client:
        _wait_for_a_worker(client, target)
        check_versions(client)
        yield client


def _quiet_dask_logs() -> None:
    """Dask logs every worker and connection at INFO through its own level, set when it is first
    imported; keep it to warnings unless Harvest itself logs at debug (--debug)."""
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("distributed").setLevel(logging.WARNING)


def _wait_for_a_worker(client, target: str) -> None:
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except (TimeoutError, OSError) as exc:
        raise ClusterError(f"the Dask scheduler at {target} has no workers after {CONNECT_TIMEOUT:g} s; "
                           f"start some with `dask worker {target}`") from exc


def check_versions(client) -> None:
    """Dask's own version comparison of client, scheduler and workers, as one line."""
    from distributed.versions import error_message

    versions = client.get_versions()
    message = error_message(versions["scheduler"], versions["workers"], versions["client"])["warning"]
    if message:
        raise ClusterError(skew_line(message))


def skew_line(message: str) -> str:
    """Dask's 'Mismatched versions found' table folded into one line."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in message.splitlines() if line.startswith("|")]
    if len(rows) < 2:
        return f"version skew between this machine and the Dask cluster: {' '.join(message.split())}"
    header, *body = rows
    packages = "; ".join(f"{row[0]} " + ", ".join(f"{name.lower()} {value}" for name, value in zip(header[1:], row[1:]))
                         for row in body)
    return f"version skew between this machine and the Dask cluster (Dask: Mismatched versions found): {packages}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
