"""Browsers die with their owner: SIGKILL of a process holding a browser, of a crawl mid-search,
and `jobs cancel` of a job that will not stop, leave no chromedriver or Chromium behind."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from crawler.jobs import cancel_job, start_job
from tests.conftest import REPO, chromium_available
from tests.support.orphans import MARKER_ENV, browser_processes, kill_all, wait_for_no_browsers
from workspace.layout import init_workspace, open_workspace

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not chromium_available(), reason="needs chromium and chromedriver")]

HOLD_A_BROWSER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from crawler.browser import BrowserConfig, open_browser
with open_browser(BrowserConfig()) as driver:
    print("ready", flush=True)
    time.sleep(600)
"""


def own_marker(monkeypatch: pytest.MonkeyPatch) -> str:
    """A marker under the run's marker, for the processes of this test only."""
    marker = f"{os.environ[MARKER_ENV]}-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv(MARKER_ENV, marker)
    return marker


def wait_for_browsers(marker: str, timeout: float = 60) -> list[tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = browser_processes(marker)
        if any("chromedriver" in cmd for _, cmd in found) and any("chrom" in cmd.split()[0].rsplit("/", 1)[-1]
                                                                 and "driver" not in cmd for _, cmd in found):
            return found
        time.sleep(0.2)
    raise AssertionError("the browser never started")


def assert_no_orphans(marker: str) -> None:
    alive = wait_for_no_browsers(marker, timeout=10)
    kill_all(alive)
    assert alive == [], f"orphaned browser processes: {alive}"


def test_sigkill_of_the_owner_kills_driver_and_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    marker = own_marker(monkeypatch)
    owner = subprocess.Popen([sys.executable, "-c", HOLD_A_BROWSER, str(REPO)], stdout=subprocess.PIPE, text=True)
    assert owner.stdout.readline().strip() == "ready"
    found = wait_for_browsers(marker)
    assert len(found) >= 2  # chromedriver and at least the browser process
    owner.kill()
    owner.wait()
    assert_no_orphans(marker)


def test_sigkill_of_a_crawl_two_seconds_after_its_browser_started(make_replica, run_cli, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    marker = own_marker(monkeypatch)
    site = make_replica(per_page=5, slow_ms=300)
    ws = tmp_path / "ws"
    init_workspace(ws, ["daisy"])
    crawl = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "crawl", str(ws), "--engine", "bing",
                              "--per-class", "30", "--base-url", site.base_url, "--allow-private"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_browsers(marker)
    time.sleep(2)
    crawl.send_signal(signal.SIGKILL)
    crawl.wait()
    assert_no_orphans(marker)


def test_jobs_cancel_ends_the_whole_process_tree(make_replica, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A job ignoring SIGTERM (here: it is mid-search) is killed after the grace, browser included."""
    marker = own_marker(monkeypatch)
    site = make_replica(per_page=5, slow_ms=300)
    ws_path = tmp_path / "ws"
    init_workspace(ws_path, ["daisy"])
    ws = open_workspace(ws_path)
    job = start_job(ws, "crawl", ["crawl", str(ws_path), "--engine", "bing", "--per-class", "30",
                                  "--base-url", site.base_url, "--allow-private"])
    wait_for_browsers(marker)
    os.kill(job.pid, signal.SIGSTOP)  # a job that cannot react to SIGTERM
    ended = cancel_job(ws, job.id, grace=1.0)
    assert ended.state == "cancelled"
    assert "killed" in (ended.message or "")
    assert_no_orphans(marker)
    with sqlite3.connect(ws_path / "catalog.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

