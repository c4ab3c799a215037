"""Reading a child's pipe without hanging the suite when the child never writes."""

from __future__ import annotations

import queue
import threading
from typing import IO

import pytest


def readline_within(stream: IO[str], seconds: float) -> str:
    """The next line of `stream`, or a test failure after `seconds` (readline itself has no timeout)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=seconds)
    except queue.Empty:
        pytest.fail(f"no line from the child process in {seconds} s")
