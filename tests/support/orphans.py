"""Find browser processes started by this test run, wherever they were reparented.

The run puts a marker in the environment (`HARVEST_TEST_RUN`); every chromedriver, geckodriver
and browser started by a test, directly or through a CLI subprocess, inherits it. Processes are
recognised by that marker, never by name alone, so a developer's own browser is never touched.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

MARKER_ENV = "HARVEST_TEST_RUN"
BROWSER_NAMES = ("chromedriver", "chromium", "chrome", "headless_shell", "geckodriver", "firefox")


def _environ(pid: str) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def _is_zombie(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] == "Z"
    except (OSError, IndexError):
        return True


def browser_processes(marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of live browser/driver processes whose marker starts with `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        program = os.path.basename(cmdline.split(" ", 1)[0])
        if not any(name in program for name in BROWSER_NAMES):
            continue
        if _environ(pid).get(MARKER_ENV, "").startswith(marker) and not _is_zombie(pid):
            found.append((int(pid), cmdline[:160]))
    return found


def wait_for_no_browsers(marker: str, timeout: float = 15.0) -> list[tuple[int, str]]:
    """Browser processes of `marker` still alive after `timeout` seconds (empty when all died)."""
    deadline = time.monotonic() + timeout
    alive = browser_processes(marker)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = browser_processes(marker)
    return alive


def kill_all(processes: list[tuple[int, str]]) -> None:
    """Clean up after a failed check (only the processes found by marker)."""
    for pid, _ in processes:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
