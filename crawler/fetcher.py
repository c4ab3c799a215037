"""One candidate's download, everything but its catalog write: fetch, hash, check and analyse,
place the file in raw/. Runs in the crawl's own threads for a small batch and in the fetch
workers' threads (`crawler.fetch_pool`) for a large one, so both make the same fates.

Kept apart from the catalog code that records fates: a fetch worker imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import urllib3

from crawler.http import HostLimiter, HttpPolicy, fetch_to_file, make_session
from curation.ingest_analysis import Checked, cache_path, check_download
from curation.resize import ResizeSpec
from workspace.layout import Workspace
from workspace.storage import place_blob, sha256_file, temp_path

SKIP_REASONS = frozenset({"robots_noai", "private_address", "blocked_address", "bad_url"})


@dataclass(frozen=True)
class Outcome:
    candidate_id: int
    status: str          # stored | duplicate | failed | skipped
    reason: str | None
    image_id: str | None


@dataclass(frozen=True)
class Fate:
    """What a download found for one candidate, waiting for `FateWriter` to record it."""

    row: dict
    same_url: str | None = None       # the image the URL already is: not fetched
    outcome: Outcome | None = None    # decided before any file was kept (the fetch failed)
    sha: str | None = None
    size: int = 0
    rel: str | None = None            # where the file was placed in raw/, when it is an image
    checked: Checked | None = None


@dataclass(frozen=True)
class FetchSetup:
    """What a fetch needs besides the row, picklable for the fetch workers."""

    root: str
    policy: HttpPolicy
    resize_spec: ResizeSpec | None   # the output a plain curate makes: cached at ingest


def fetch_failed(row: dict, reason: str | None) -> Outcome:
    status = "skipped" if reason in SKIP_REASONS else "failed"
    return Outcome(row["id"], status, reason, None)


class Fetcher:
    """Fetches rows with one pooled HTTP client. `limiter` bounds downloads per host where the
    fetcher alone sees them all (the crawl's threads); the fetch pool bounds them in the crawl
    process instead, across its workers."""

    def __init__(self, setup: FetchSetup, pool_size: int, limiter: HostLimiter | None = None) -> None:
        self.ws, self.policy, self.resize_spec = Workspace(Path(setup.root)), setup.policy, setup.resize_spec
        self.session: urllib3.PoolManager = make_session(setup.policy, pool_size=pool_size)
        self.limiter = limiter

    def close(self) -> None:
        self.session.clear()  # closes the pooled connections

    def fetch(self, row: dict, check: Callable[..., Checked] = check_download,
              fetched: Callable[[], None] | None = None) -> Fate:
        """Fetch, hash, check (and analyse) one candidate and place its file in raw/. `check`
        is `check_download` or a stand-in with its signature (one that runs it in a process);
        `fetched` is told when the network part is over, before the check."""
        tmp = temp_path(self.ws)
        try:
            result = fetch_to_file(self.session, row["url"], tmp, self.policy, self.limiter)
            if fetched is not None:
                fetched()
            if not result.ok:
                return Fate(row, outcome=fetch_failed(row, result.reason))
            return self._checked(row, tmp, result.sha256 or sha256_file(tmp), check)
        finally:
            tmp.unlink(missing_ok=True)

    def _checked(self, row: dict, tmp: Path, sha: str, check: Callable[..., Checked]) -> Fate:
        size = tmp.stat().st_size
        spec = None if row.get("is_thumbnail") else self.resize_spec  # a thumbnail's flags are set at its record
        cache = cache_path(self.ws, sha[:16], spec) if spec else None
        checked: Checked = check(str(tmp), sha[:16], str(cache) if cache else None, self.policy.max_pixels, spec)
        if row.get("is_thumbnail"):
            checked = replace(checked, analysis=None)
        rel = place_blob(self.ws, tmp, sha, checked.info.ext) if checked.info is not None else None
        return Fate(row, sha=sha, size=size, rel=rel, checked=checked)
