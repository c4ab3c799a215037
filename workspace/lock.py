"""One writer per stage: an OS file lock in the workspace (DIR/locks/<stage>.lock).

`flock` is released by the kernel when the holding process dies, however it dies, so a crash
never leaves a stale lock behind. The file's text (who holds it) is only for the message a second
writer sees; the lock itself is the authority. Readers (status, export, report) take no lock.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from workspace.errors import WorkspaceError
from workspace.layout import Workspace


class LockBusy(WorkspaceError):
    """Another writer holds the stage's lock and the caller asked not to wait."""


def lock_path(ws: Workspace, stage: str) -> Path:
    """DIR/locks/<stage>.lock; the stage name is made safe for a file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stage).strip("._") or "stage"
    return ws.root / "locks" / f"{safe}.lock"


def lock_held(ws: Workspace, stage: str) -> bool:
    """True when a live process holds the `stage` lock right now (readers use it; it never
    creates the lock file)."""
    path = lock_path(ws, stage)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextmanager
def writer_lock(ws: Workspace, stage: str, wait: bool = True,
                on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the `stage` lock of `ws` for the body. Busy: wait (telling `on_wait` why) or, with
    `wait=False`, raise LockBusy with one line naming the holder."""
    path = lock_path(ws, stage)
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise LockBusy(f"another {stage} is running on {ws.root} ({holder}); "
                               "wait for it to finish, or run without --no-wait to queue behind it") from None
            if on_wait:
                on_wait(f"another {stage} is running on {ws.root} ({holder}); waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        _write_holder(fd, stage)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 500, 0).decode("utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return text or "holder unknown"


def _write_holder(fd: int, stage: str) -> None:
    since = datetime.now(timezone.utc).strftime("%H:%M:%S UTC")
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv[:4]))
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, since {since}: {command}".encode()[:400], 0)
