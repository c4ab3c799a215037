"""Background jobs: --detach, listing, logs, clean cancel, and a dead process shown as interrupted."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from crawler.jobs import get_job, wait_for_job
from tests.crawler.test_crawl import images
from tests.support.fault_server import FaultServer
from workspace.layout import init_workspace, open_workspace


def _wait_running_with_progress(ws_path: Path, job_id: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(ws_path / "catalog.sqlite", timeout=30) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        if stored >= 2:
            return
        time.sleep(0.1)
    raise AssertionError("the detached crawl made no progress")


def _open_gate_once_cancelling(ws_path: Path, job_id: int, server: FaultServer) -> threading.Thread:
    """The gated downloads end only after `jobs cancel` has marked the job: however slow the
    machine, the cancel lands while the crawl still has work left."""
    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and get_job(open_workspace(ws_path), job_id).state == "running":
            time.sleep(0.05)
        server.gate.set()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_detach_list_logs_cancel_and_resume(run_cli, tmp_path: Path) -> None:
    count, fast = 40, 4
    with FaultServer(images=images(count)) as server:
        url_file = tmp_path / "urls.txt"
        url_file.write_text("".join(server.url(f"/{'ok' if i < fast else 'gate'}/{i}.jpg") + "\n" for i in range(count)))
        ws_path = tmp_path / "ws"
        init_workspace(ws_path, ["a"])
        args = ("crawl", ws_path, "--urls", url_file, "--class", "a", "--allow-private", "--workers", "2")
        started = run_cli(*args, "--detach")
        assert started.returncode == 0, started.stderr
        assert "started job 1" in started.stdout
        _wait_running_with_progress(ws_path, 1)
        listing = run_cli("jobs", ws_path)
        assert "running" in listing.stdout and "crawl" in listing.stdout
        opener = _open_gate_once_cancelling(ws_path, 1, server)
        cancelled = run_cli("jobs", "cancel", ws_path, "1")
        assert cancelled.returncode == 0, cancelled.stderr
        opener.join(timeout=120)
        job = wait_for_job(open_workspace(ws_path), 1, timeout=60)
        assert job.state == "cancelled"
        with sqlite3.connect(ws_path / "catalog.sqlite") as conn:
            stored = conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        assert 0 < stored < count
        logs = run_cli("jobs", "logs", ws_path, "1")
        assert logs.returncode == 0
        assert "cancelled" in logs.stdout
        # running the same command again finishes the job
        resumed = run_cli(*args)
        assert resumed.returncode == 0, resumed.stderr
    with sqlite3.connect(ws_path / "catalog.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM images WHERE status='stored'").fetchone()[0] == count
    listing = run_cli("jobs", ws_path)
    assert "done" in listing.stdout and "cancelled" in listing.stdout


@pytest.mark.slow
def test_a_job_whose_process_died_shows_as_interrupted(run_cli, tmp_path: Path) -> None:
    with FaultServer(images=images(20)) as server:
        url_file = tmp_path / "urls.txt"
        url_file.write_text("".join(server.url(f"/slow/{i}.jpg?ms=300") + "\n" for i in range(20)))
        ws_path = tmp_path / "ws"
        init_workspace(ws_path, ["a"])
        started = run_cli("crawl", ws_path, "--urls", url_file, "--class", "a", "--allow-private",
                          "--workers", "1", "--detach")
        assert started.returncode == 0
        _wait_running_with_progress(ws_path, 1)
        ws = open_workspace(ws_path)
        os.kill(get_job(ws, 1).pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while get_job(ws, 1).state == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert get_job(ws, 1).state == "interrupted"
        assert "interrupted" in run_cli("jobs", ws_path).stdout


def test_jobs_usage_errors(run_cli, tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", ["a"])
    bad = run_cli("jobs", "logs", tmp_path / "ws", "notanumber")
    assert bad.returncode == 2
    missing = run_cli("jobs", "logs", tmp_path / "ws", "7")
    assert missing.returncode == 1 and "no job 7" in missing.stderr
