"""`curate --cluster` on a LocalCluster of 2 worker processes gives exactly a local curate."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from curation.pipeline import CurateConfig, curate
from tests.cluster.conftest import catalog_state, copy_workspace, photo_workspace
from tests.conftest import REPO
from workspace.layout import init_workspace


@pytest.fixture(scope="module")
def twin_workspaces(tmp_path_factory: pytest.TempPathFactory, local_cluster: str):
    """The same imported workspace curated twice: on this machine's pool, and on the cluster."""
    root = tmp_path_factory.mktemp("twins")
    local = photo_workspace(root, per_class=40)
    remote = copy_workspace(local, root / "ws-cluster")
    config = CurateConfig(size=64, seed=5, workers=2)
    local_summary = curate(local, config)
    cluster_summary = curate(remote, CurateConfig(size=64, seed=5, workers=2, cluster=local_cluster))
    return local, remote, local_summary, cluster_summary


def test_cluster_curate_equals_local_curate(twin_workspaces) -> None:
    local, remote, local_summary, cluster_summary = twin_workspaces
    local_images, local_pairs, local_files = catalog_state(local)
    images, pairs, files = catalog_state(remote)
    assert images == local_images          # statuses, reasons, hashes, thumbnails, groups, splits
    assert pairs == local_pairs
    assert files == local_files
    statuses = Counter(row[1] for row in images)
    assert statuses["accepted"] >= 100 and statuses["duplicate"] >= 4  # the planted copies were found
    assert cluster_summary.analysed == local_summary.analysed == len(images)
    assert cluster_summary.splits == local_summary.splits
    assert cluster_summary.written == local_summary.written == statuses["accepted"]


def test_cluster_curate_is_incremental_like_a_local_one(twin_workspaces, local_cluster: str) -> None:
    _, remote, _, _ = twin_workspaces
    again = curate(remote, CurateConfig(size=64, seed=5, cluster=local_cluster))
    assert again.analysed == 0 and again.written == 0 and again.removed == 0


def test_band_join_above_a_size_keeps_a_local_curate_identical(twin_workspaces, tmp_path: Path) -> None:
    """Without --cluster, past --band-join-above the search is the band join on Dask's local
    threads (no scheduler starts): same decisions as the local index."""
    local, _, _, _ = twin_workspaces
    copy = copy_workspace(local, tmp_path / "ws")
    with copy.catalog() as catalog:
        catalog.execute("UPDATE images SET thumb = NULL")   # analyse again, decide again
    curate(copy, CurateConfig(size=64, seed=5, workers=1, band_join_above=10))
    assert catalog_state(copy)[:2] == catalog_state(local)[:2]


def test_unreachable_scheduler_fails_in_seconds_with_one_line(tmp_path: Path, run_cli) -> None:
    with socket.socket() as sock:   # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    started = time.monotonic()
    result = run_cli("curate", ws.root, "--cluster", f"127.0.0.1:{port}")
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in result.stderr
    with ws.catalog() as catalog:   # failed before any work
        assert catalog.scalar("SELECT COUNT(*) FROM stage_runs") == 0


def analysed(ws) -> int:
    with ws.catalog() as catalog:
        return int(catalog.scalar("SELECT COUNT(*) FROM images WHERE thumb IS NOT NULL"))


@pytest.mark.slow
def test_a_killed_driver_resumes_like_a_local_curate(tmp_path: Path, local_cluster: str, run_cli) -> None:
    """The driver (found through HARVEST_DASK_SCHEDULER) is killed after its first committed batch;
    running it again finishes with exactly what a local curate gives."""
    ws = photo_workspace(tmp_path, per_class=40)
    local = copy_workspace(ws, tmp_path / "ws-local")
    env = {**os.environ, "HARVEST_DASK_SCHEDULER": local_cluster, "PYTHONUNBUFFERED": "1"}
    driver = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "curate", str(ws.root), "--size", "64",
                               "--seed", "5"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              cwd=tmp_path)
    deadline = time.monotonic() + 120
    while analysed(ws) == 0 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    at_kill = analysed(ws)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    total = len(catalog_state(ws)[0])
    assert 0 < at_kill < total
    again = run_cli("curate", ws.root, "--size", "64", "--seed", "5", "--json", env={"HARVEST_DASK_SCHEDULER": local_cluster})
    assert again.returncode == 0, again.stderr
    assert 0 < json.loads(again.stdout)["analysed"] <= total - at_kill   # what was committed is not redone
    curate(local, CurateConfig(size=64, seed=5, workers=2))
    assert catalog_state(ws) == catalog_state(local)


@pytest.mark.parametrize("address, message", [
    ("local[0]", "--cluster local[N] needs N >= 1, got 'local[0]'"),
    ("  ", "--cluster needs a scheduler address (tcp://host:8786) or local[N]"),
])
def test_a_bad_cluster_address_is_one_line(tmp_path: Path, address: str, message: str) -> None:
    from cluster.errors import ClusterError

    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    with pytest.raises(ClusterError, match=re.escape(message)):
        curate(ws, CurateConfig(cluster=address))
