"""One image URL an engine proposes (`UrlProposal`), and the rule for telling thumbnails from
full-resolution URLs. A proposal the crawl records becomes a `candidates` row: the download queue."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

# Hosts (and host+path prefixes) that only ever serve search-engine thumbnails.
THUMBNAIL_HOST_PATTERNS = (
    re.compile(r"^tse\d*\.(mm\.)?bing\.(net|com)$"),
    re.compile(r"^th\.bing\.com$"),
    re.compile(r"^encrypted-tbn\d*\.gstatic\.com$"),
    re.compile(r"^t\d*\.gstatic\.com$"),
    re.compile(r"^search\.pstatic\.net$"),
    re.compile(r"^(s|ss|tse)\d*\.pstatic\.net$"),
)
THUMBNAIL_PATH_PATTERNS = (
    ("external-content.duckduckgo.com", "/iu"),
    ("proxy.duckduckgo.com", "/iu"),
)


@dataclass(frozen=True)
class UrlProposal:
    """A proposed image: `url` is full resolution unless `is_thumbnail` says it is only a preview."""

    url: str
    engine: str
    query: str | None = None
    thumbnail_url: str | None = None
    page_url: str | None = None
    title: str | None = None
    width: int | None = None
    height: int | None = None
    is_thumbnail: bool = False


def is_data_uri(url: str | None) -> bool:
    return bool(url) and url.strip()[:5].lower() == "data:"


def is_thumbnail_url(url: str | None) -> bool:
    """Data URIs, known thumbnail hosts and Bing-style `/th?id=` previews are never full resolution."""
    if not url or is_data_uri(url):
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if any(p.match(host) for p in THUMBNAIL_HOST_PATTERNS):
        return True
    if any(host == h and parts.path.startswith(prefix) for h, prefix in THUMBNAIL_PATH_PATTERNS):
        return True
    path = parts.path.rstrip("/")
    return path.endswith("/th") and "id" in parse_qs(parts.query)


def absolute_url(url: object, base: str) -> str | None:
    """Resolve a scraped URL against its page; None for empty or non-http(s) values (except data:)."""
    if not isinstance(url, str) or not url.strip():
        return None
    text = url.strip()
    if is_data_uri(text):
        return text
    if text.startswith("//"):
        text = (urlsplit(base).scheme or "https") + ":" + text
    resolved = urljoin(base, text) if base else text
    return resolved if urlsplit(resolved).scheme in ("http", "https") else None


def to_int(value: object) -> int | None:
    """Width/height fields arrive as ints, strings or junk; keep positive integers only."""
    try:
        number = int(float(str(value).strip()))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def make_proposal(engine: str, full: object, thumbnail: object, page_url: str, *,
                  source_page: object = None, title: object = None, width: object = None,
                  height: object = None) -> UrlProposal | None:
    """One result -> a UrlProposal: full resolution when it exists, else a flagged thumbnail, else None."""
    full_url = absolute_url(full, page_url)
    thumb_url = absolute_url(thumbnail, page_url)
    if thumb_url and is_data_uri(thumb_url):
        thumb_url = None  # a data URI cannot be downloaded again later
    common = dict(engine=engine, page_url=absolute_url(source_page, page_url),
                  title=str(title).strip() if isinstance(title, str) and title.strip() else None)
    if full_url and not is_thumbnail_url(full_url):
        return UrlProposal(url=full_url, thumbnail_url=thumb_url, width=to_int(width),
                         height=to_int(height), **common)
    preview = thumb_url or (full_url if full_url and not is_data_uri(full_url) else None)
    if preview is None:
        return None
    return UrlProposal(url=preview, thumbnail_url=preview, is_thumbnail=True, **common)
