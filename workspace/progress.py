"""The progress callback every long stage accepts: `progress(done, total)`.

One definition so crawl, download, import, curate, train, evaluate and clean all take the same
thing; the CLI passes a progress bar (`workspace.console.progress_bar`), a job passes its row's
reporter (`crawler.jobs`), tests pass a list's append.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]
