"""Terminal output for the CLI layer only (library code never imports this).

One stdout console for results, one stderr console for errors and progress, and a progress
bar that hands library code a plain `callback(done, total)`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


@dataclass
class OutputSettings:
    quiet: bool = False
    debug: bool = False


settings = OutputSettings()
# Piped output (scripts, CI logs) gets a wide table instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


def configure_logging(debug: bool, quiet: bool) -> None:
    """Library warnings reach the user on stderr; --debug shows everything, --quiet only errors."""
    settings.debug, settings.quiet = debug, quiet
    level = logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING
    handler = RichHandler(console=err, show_time=debug, show_path=debug, markup=False,
                          rich_tracebacks=debug)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # library UserWarnings are debug detail, not user output
    logging.getLogger("py.warnings").setLevel(logging.DEBUG if debug else logging.ERROR)
    for noisy in ("urllib3", "selenium", "PIL", "matplotlib", "WDM"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    for chatty in ("tensorflow", "absl", "keras"):  # retracing notices and the like
        logging.getLogger(chatty).setLevel(logging.DEBUG if debug else logging.ERROR)


def info(message: str) -> None:
    """A line of normal output, silenced by --quiet."""
    if not settings.quiet:
        out.print(message)


def show(renderable: object) -> None:
    """A table or other rich result on stdout, silenced by --quiet."""
    if not settings.quiet:
        out.print(renderable)


def note(message: str) -> None:
    """A line about the output rather than the output (which run was used, and why): stderr, so
    stdout stays clean for --json; silenced by --quiet."""
    if not settings.quiet:
        err.print(message, markup=False, highlight=False)


def emit_json(data: object) -> None:
    """One JSON document on stdout for scripts: plain print, never rich (no wrapping, no markup)."""
    utf8 = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "") == "utf8"
    print(json.dumps(_finite(data), indent=2, ensure_ascii=not utf8, default=str), flush=True)


def _finite(value: object) -> object:
    """NaN and infinity are not JSON: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


PLAIN_EVERY = 30.0


def _plain_progress(description: str) -> Callable[[int, int | None], None]:
    """One `description: done/total` line per PLAIN_EVERY seconds, so a log stays short."""
    last = [time.monotonic()]

    def update(done: int, total: int | None = None) -> None:
        now = time.monotonic()
        if now - last[0] >= PLAIN_EVERY:
            last[0] = now
            err.print(f"{description}: {done}{f'/{total}' if total else ''}", markup=False, highlight=False)

    return update


def warn(message: str) -> None:
    """A notice on stderr (e.g. waiting for another writer), silenced by --quiet."""
    if not settings.quiet:
        err.print(f"[yellow]{escape(message)}[/yellow]")


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """Yields callback(done, total); draws nothing when --quiet. When stderr is not a terminal
    (a background job's log, CI), writes a plain line every PLAIN_EVERY seconds instead."""
    if settings.quiet:
        yield lambda done, total=None: None
        return
    if not err.is_terminal:
        yield _plain_progress(description)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None = None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
