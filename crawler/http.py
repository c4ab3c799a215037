"""All HTTP policy in one place: timeouts, deadlines, retries, size caps, sniffing, the private
address guard, per-host limits and the User-Agent. Everything that fetches goes through here.

A fetch streams into a file under the workspace's tmp/ folder; the caller hands that file to
`workspace.storage.ingest_file`, which names it by content. Nothing here takes a file name from a
URL or a header.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError

from crawler.address_guard import FetchRefused, PeerRefused, check_url, guarded_pool_manager
from crawler.errors import CrawlerError
from workspace.imagecheck import DEFAULT_MAX_PIXELS, sniff_format

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOAI_TOKENS = ("noai", "noimageai")
MAX_REDIRECTS = 8
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpPolicy:
    """How every download behaves. Defaults suit the open web; tests tighten them."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    deadline: float = 60.0          # total seconds for one file, retries excluded
    retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = 30.0
    max_bytes: int = 30_000_000
    max_pixels: int = DEFAULT_MAX_PIXELS  # the workspace's max_pixels, as at import
    per_host: int = 4
    user_agent: str = "Harvest/0.1 (image dataset builder; honours X-Robots-Tag noai)"
    allow_private: bool = False
    respect_noai: bool = True

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "deadline"):
            if getattr(self, name) <= 0:
                raise CrawlerError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.retries < 0 or self.per_host < 1 or self.max_bytes < 1024:
            raise CrawlerError(
                f"invalid HTTP policy: retries={self.retries}, per_host={self.per_host}, "
                f"max_bytes={self.max_bytes}"
            )


@dataclass(frozen=True)
class FetchResult:
    ok: bool
    reason: str | None
    status_code: int | None
    final_url: str
    bytes: int
    content_type: str | None = None
    sha256: str | None = None   # of the bytes written, hashed as they streamed in (no second read)


class _Failure(Exception):
    """One attempt failed; `retry_after` set when the failure is worth retrying."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None,
                 retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.status, self.retry_after, self.retryable = reason, status, retry_after, retryable


def make_session(policy: HttpPolicy, pool_size: int = 16) -> urllib3.PoolManager:
    """A pooled HTTP client that never follows redirects by itself (each hop is checked here),
    never retries by itself (fetch_to_file does, with backoff), ignores proxies from the
    environment (never route the guard's decisions through one) and checks the peer address of
    every connection it opens. urllib3 straight, not requests' Session on top of it: a download
    costs a third of the CPU, and nothing here needs what the Session adds (cookies, auth, hooks)."""
    return guarded_pool_manager(policy.allow_private, pool_size, headers={
        "User-Agent": policy.user_agent,
        "Accept": "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8,*/*;q=0.5",
        "Accept-Encoding": "gzip, deflate",
    })


def check_url_allowed(url: str, policy: HttpPolicy) -> None:
    """Refuse a URL the address guard forbids under this policy (raises FetchRefused)."""
    check_url(url, policy.allow_private)


class HostLimiter:
    """At most `per_host` downloads at once from one host."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(self._per_host))

    def slot(self, url: str) -> threading.BoundedSemaphore:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            return self._semaphores[host]


def fetch_to_file(session: urllib3.PoolManager, url: str, dest: Path, policy: HttpPolicy,
                  limiter: HostLimiter | None = None) -> FetchResult:
    """Download `url` into `dest` under the policy; retries with backoff. Never raises for the
    network: every outcome is a FetchResult with a machine-readable reason."""
    last = _Failure("connection_error")
    for attempt in range(policy.retries + 1):
        try:
            if limiter:
                with limiter.slot(url):
                    return _attempt(session, url, dest, policy)
            return _attempt(session, url, dest, policy)
        except FetchRefused as exc:
            dest.unlink(missing_ok=True)
            return FetchResult(False, exc.reason, None, url, 0)
        except _Failure as failure:
            dest.unlink(missing_ok=True)
            last = failure
            if not failure.retryable or attempt == policy.retries:
                break
            wait = failure.retry_after if failure.retry_after is not None else policy.backoff * 2 ** attempt
            if wait > policy.max_retry_after:
                break
            log.debug("retrying %s in %.1fs after %s", url, wait, failure.reason)
            time.sleep(wait)  # backoff between attempts; not a page-synchronisation wait
    return FetchResult(False, last.reason, last.status, url, 0)


def _attempt(session: urllib3.PoolManager, url: str, dest: Path, policy: HttpPolicy) -> FetchResult:
    started = time.monotonic()
    current = url
    timeout = urllib3.Timeout(connect=policy.connect_timeout, read=policy.read_timeout)
    for _ in range(MAX_REDIRECTS + 1):
        check_url_allowed(current, policy)
        try:
            response = session.request("GET", current, preload_content=False, redirect=False, retries=False,
                                        timeout=timeout)
        except PeerRefused as exc:
            raise FetchRefused(exc.reason, str(exc)) from None
        except (NewConnectionError, ProtocolError):  # refused, reset, name not resolved
            raise _Failure("connection_error", retryable=True) from None
        except (ConnectTimeoutError, ReadTimeoutError):
            raise _Failure("timeout", retryable=True) from None
        except HTTPError as exc:
            raise _Failure("request_error", retryable=False) from exc
        try:
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location", "")
                if not location:
                    raise _Failure(f"http_{response.status}")
                current = urljoin(current, location)
                continue
            return _read_body(response, current, dest, policy, started)
        finally:
            _release(response)
    raise _Failure("redirect_loop")


def _release(response: urllib3.BaseHTTPResponse) -> None:
    """Close the response's connection and hand it back to the pool (which opens a fresh one
    next time), as our requests-based fetch did: a body read with read1 to its exact length
    never reaches EOF, so its socket would otherwise stay open until garbage collection."""
    response.close()
    response.release_conn()


def _read_body(response: urllib3.BaseHTTPResponse, url: str, dest: Path, policy: HttpPolicy,
               started: float) -> FetchResult:
    status = response.status
    if status >= 400:
        raise _Failure(f"http_{status}", status, retry_after_seconds(response.headers.get("Retry-After")),
                       retryable=status in RETRY_STATUSES)
    robots = response.headers.get("X-Robots-Tag", "").lower()
    if policy.respect_noai and any(token in robots for token in NOAI_TOKENS):
        return FetchResult(False, "robots_noai", status, url, 0, response.headers.get("Content-Type"))
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        return FetchResult(False, "too_large", status, url, 0, response.headers.get("Content-Type"))
    size = 0
    head = b""
    digest = hashlib.sha256()
    try:
        with open(dest, "wb") as out:
            for chunk in _chunks(response):
                if time.monotonic() - started > policy.deadline:
                    raise _Failure("timeout")
                size += len(chunk)
                if size > policy.max_bytes:
                    raise _Failure("too_large")
                if len(head) < 64:
                    head += chunk[: 64 - len(head)]
                    if len(head) >= 16 and sniff_format(head) is None and _looks_textual(head):
                        raise _Failure("not_an_image")
                out.write(chunk)
                digest.update(chunk)
    except HTTPError as exc:
        raise _Failure("timeout" if isinstance(exc, ReadTimeoutError) else "connection_error", retryable=True) from None
    except OSError as exc:
        raise CrawlerError(f"cannot write download to {dest.parent}: {exc.strerror or exc}") from None
    if declared and declared.isdigit() and size < int(declared):
        raise _Failure("truncated", retryable=True)
    if size == 0:
        raise _Failure("empty_file")
    return FetchResult(True, None, status, url, size, response.headers.get("Content-Type"), digest.hexdigest())


def _chunks(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Body chunks as soon as any bytes arrive (read1), so a server dripping one byte a second
    still meets the per-file deadline check instead of blocking a full chunk."""
    while True:
        chunk = response.read1(CHUNK, decode_content=True)
        if not chunk:
            return
        yield chunk


def _looks_textual(head: bytes) -> bool:
    """HTML/JSON/text served where an image was promised: stop reading early."""
    stripped = head.lstrip().lower()
    return stripped[:1] in (b"<", b"{", b"[") or stripped[:5] in (b"<!doc", b"<html")


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either an integer or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
