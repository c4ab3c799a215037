"""Browsers die with their owner, however the owner dies.

The driver (chromedriver, geckodriver) starts in a process group of its own, and the browser it
launches, with every helper process, stays in that group. A tiny watcher (`sh`, in a session of
its own) holds the read end of a pipe whose only write end is in the owner; when the owner exits
for any reason, SIGKILL and the OOM killer included, the kernel closes that end, the watcher's
`read` returns, and it kills the whole group. A normal quit kills leftovers of the group and
stops the watcher.

The driver's own group also keeps a Ctrl-C in the terminal away from the browser, so the owner
can quit it cleanly instead of racing it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from typing import Any

log = logging.getLogger(__name__)

WATCHER_SCRIPT = 'read pgid; read _; kill -KILL "-$pgid" 2>/dev/null'  # dash: no "--" before -PGID


class BrowserReaper:
    """One per driver: `arm(pid)` once the driver process exists, `close()` after quitting."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self._write_fd: int | None = None
        self._watcher: subprocess.Popen[bytes] | None = None

    def start_watcher(self) -> None:
        """Start the watcher before the driver, so arming it later is a single write."""
        read_fd, write_fd = os.pipe()  # both ends non-inheritable: no other child holds them
        try:
            self._watcher = subprocess.Popen(
                ["/bin/sh", "-c", WATCHER_SCRIPT], stdin=read_fd, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        finally:
            os.close(read_fd)
        self._write_fd = write_fd

    def arm(self, driver_pid: int) -> None:
        """Tell the watcher which group to kill when this process dies."""
        self.pgid = driver_pid
        if self._write_fd is not None:
            os.write(self._write_fd, f"{driver_pid}\n".encode())

    def close(self) -> None:
        """After a normal quit: kill what is left of the group, then stop the watcher."""
        if self.pgid is not None:
            kill_group(self.pgid)
        if self._watcher is not None:
            self._watcher.kill()
            self._watcher.wait()
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone (PermissionError: the id was reused by someone else's group)


def reaped_service(service_class: type, reaper: BrowserReaper, **kwargs: Any) -> Any:
    """A Selenium Service that starts its driver in its own process group, armed at once."""

    class ReapedService(service_class):  # type: ignore[misc, valid-type]
        def _start_process(self, path: str) -> None:  # selenium's one place that calls Popen
            super()._start_process(path)
            reaper.arm(self.process.pid)

    popen_kw = {**kwargs.pop("popen_kw", {}), "process_group": 0}
    return ReapedService(popen_kw=popen_kw, **kwargs)
