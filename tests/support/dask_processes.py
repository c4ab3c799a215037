"""`dask scheduler` and `dask worker` as separate OS processes on 127.0.0.1, for the cluster tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DASK = str(Path(sys.executable).with_name("dask"))


def start_scheduler(folder: Path) -> tuple[subprocess.Popen, str]:
    """A scheduler on a free port; returns the process and its tcp:// address."""
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}   # the scheduler unpickles Harvest's tasks
    process = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                "--scheduler-file", str(file)], stdout=subprocess.DEVNULL,
                               stderr=open(folder / "scheduler.log", "wb"), env=env,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if file.exists():
            try:
                return process, json.loads(file.read_text())["address"]
            except (ValueError, KeyError):
                pass
        if process.poll() is not None:
            raise RuntimeError(f"dask scheduler exited: {(folder / 'scheduler.log').read_text()[-2000:]}")
        time.sleep(0.1)
    stop(process)
    raise RuntimeError("dask scheduler did not start in 60 s")


def start_worker(address: str, folder: Path, name: str, env: dict[str, str] | None = None,
                 prefix: list[str] | None = None, with_harvest: bool = True) -> subprocess.Popen:
    """One single-threaded worker process without a nanny (so killing it kills the worker)."""
    environment = {**os.environ, **(env or {})}
    environment.pop("PYTHONPATH", None)
    if with_harvest:
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), (env or {}).get("PYTHONPATH")]))
    elif env and env.get("PYTHONPATH"):
        environment["PYTHONPATH"] = env["PYTHONPATH"]
    command = [*(prefix or []), DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--name", name,
               "--host", "127.0.0.1", "--no-dashboard"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(folder / f"{name}.log", "wb"),
                            env=environment, cwd=folder, start_new_session=True)


def wait_for_workers(address: str, count: int, timeout: float = 60) -> list[str]:
    """Addresses of the scheduler's workers once there are `count` of them."""
    from distributed import Client

    with Client(address, timeout=10) as client:
        client.wait_for_workers(count, timeout=timeout)
        return sorted(client.scheduler_info(n_workers=-1)["workers"])


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
