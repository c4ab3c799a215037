"""Worker processes die with the curate that started them, however it dies.

A spawned pool worker holds both ends of its task queue, so a parent killed with SIGKILL leaves
it blocked forever. `die_with_parent` is the pool's initializer: on Linux it asks the kernel
(prctl PR_SET_PDEATHSIG) to SIGKILL the worker when its parent goes; elsewhere a daemon thread
notices the parent is gone (a new parent pid) and exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 1.0


def die_with_parent() -> None:
    starter = multiprocessing.parent_process()
    parent = starter.pid if starter is not None and starter.pid else os.getppid()
    if not _kernel_kills_orphan():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="die-with-parent").start()
    if os.getppid() != parent:  # the parent died before the worker was armed
        os._exit(1)


def _kernel_kills_orphan() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(1)
