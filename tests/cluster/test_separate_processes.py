"""A `dask scheduler` and `dask worker`s as separate OS processes over TCP: a worker killed
mid-curate changes nothing, and a worker that cannot do the work is named in one line."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.errors import ClusterError
from curation.pipeline import CurateConfig, curate
from tests.cluster.conftest import catalog_state, copy_workspace, photo_workspace
from tests.support.dask_processes import REPO, start_scheduler, start_worker, stop, wait_for_workers
from workspace.layout import init_workspace


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("dask")
    process, address = start_scheduler(folder)
    yield address, folder
    stop(process)


@pytest.fixture
def workers(scheduler):
    """Start workers by name; every one is stopped (and gone from the scheduler) afterwards."""
    address, folder = scheduler
    started: list[subprocess.Popen] = []

    def start(count: int, **options) -> list[subprocess.Popen]:
        new = [start_worker(address, folder, f"w{len(started) + k}", **options) for k in range(count)]
        started.extend(new)
        wait_for_workers(address, len([p for p in started if p.poll() is None]))
        return new

    yield start
    for process in started:
        stop(process)


def analysed(ws) -> int:
    with ws.catalog() as catalog:
        return int(catalog.scalar("SELECT COUNT(*) FROM images WHERE thumb IS NOT NULL"))


def test_curate_survives_a_killed_worker_and_equals_a_local_curate(scheduler, workers, tmp_path: Path) -> None:
    address, _ = scheduler
    ws = photo_workspace(tmp_path, per_class=60)
    local = copy_workspace(ws, tmp_path / "ws-local")
    victim, _ = workers(2)
    with ws.catalog() as catalog:
        total = int(catalog.scalar("SELECT COUNT(*) FROM images WHERE path IS NOT NULL"))
    run = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "curate", str(ws.root), "--size", "64",
                            "--seed", "5", "--cluster", address], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while analysed(ws) == 0 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    at_kill = analysed(ws)
    victim.send_signal(signal.SIGKILL)      # the worker, mid-run: its tasks go to the other one
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    assert 0 < at_kill < total              # killed after the first batch was committed, before the last
    curate(local, CurateConfig(size=64, seed=5, workers=2))
    assert catalog_state(ws) == catalog_state(local)


def test_a_worker_without_harvest_is_named_before_any_work(scheduler, workers, tmp_path: Path) -> None:
    address, _ = scheduler
    workers(1, with_harvest=False)
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    with pytest.raises(ClusterError) as caught:
        curate(ws, CurateConfig(cluster=address))
    message = str(caught.value)
    assert "\n" not in message and "tcp://127.0.0.1:" in message
    assert "missing the Python package 'curation'" in message
    with ws.catalog() as catalog:
        assert catalog.scalar("SELECT COUNT(*) FROM stage_runs") == 0


def test_a_worker_that_does_not_see_the_workspace_is_named(scheduler, workers, tmp_path: Path) -> None:
    if not shutil.which("unshare") or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("needs `unshare` (a mount namespace) to give one worker a different filesystem view")
    address, _ = scheduler
    ws = init_workspace(tmp_path / "shared" / "ws", ["a"]).workspace
    workers(1)
    # the second worker sees an empty folder where the workspace's storage should be mounted
    blind = workers(1, prefix=["unshare", "-rm", "sh", "-c", f'mount -t tmpfs none "{tmp_path / "shared"}" && exec "$0" "$@"'])[0]
    from distributed import Client

    with Client(address) as client:
        names = {info["name"]: worker for worker, info in client.scheduler_info(n_workers=-1)["workers"].items()}
    with pytest.raises(ClusterError) as caught:
        curate(ws, CurateConfig(cluster=address))
    message = str(caught.value)
    assert "\n" not in message and blind.poll() is None
    assert message.startswith(f"Dask worker {names['w1']} does not see the workspace {ws.root}")


def test_version_skew_is_dask_s_message_in_one_line(scheduler, workers, tmp_path: Path) -> None:
    """A worker whose toolz reports another version (patched at interpreter start-up)."""
    address, _ = scheduler
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import importlib.metadata as metadata\n"
        "_real = metadata.version\n"
        "metadata.version = lambda name: '0.0.1' if name == 'toolz' else _real(name)\n")
    workers(1, env={"PYTHONPATH": str(site)})
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    with pytest.raises(ClusterError) as caught:
        curate(ws, CurateConfig(cluster=address))
    message = str(caught.value)
    assert "\n" not in message and "Mismatched versions found" in message
    assert "toolz" in message and "0.0.1" in message
