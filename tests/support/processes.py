"""Children of a test in their own process group: waited on at observed progress, never left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager


@contextmanager
def child_group(args: Sequence[str], **popen) -> Iterator[subprocess.Popen]:
    """`args` started in a new session (its own process group), the whole group SIGKILLed when the
    block ends, whether it passed or failed (a curate's worker pool, a browser and its driver)."""
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    process = subprocess.Popen(list(args), start_new_session=True, **popen)
    try:
        yield process
    finally:
        kill_group(process)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process and everything in its group, and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str, seconds: float = 120) -> None:
    """Poll until `condition()`; fail if the process ends first or the time runs out."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the process ended before {what}"
        assert time.monotonic() < deadline, f"no {what} in {seconds} s"
        time.sleep(0.005)
