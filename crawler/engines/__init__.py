"""The engine registry: one table, looked up by name."""

from __future__ import annotations

from crawler.engines.base import Engine, PagingState
from crawler.engines.bing import BingEngine
from crawler.engines.duckduckgo import DuckDuckGoEngine
from crawler.engines.google import GoogleEngine
from crawler.engines.naver import NaverEngine
from crawler.engines.page import PageEngine
from crawler.errors import CrawlerError

ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (BingEngine(), DuckDuckGoEngine(), NaverEngine(), GoogleEngine(), PageEngine())
}


def get_engine(name: str) -> Engine:
    """The engine called `name`; a CrawlerError names the known ones."""
    try:
        return ENGINES[name.strip().lower()]
    except (KeyError, AttributeError):
        raise CrawlerError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}") from None


__all__ = ["ENGINES", "Engine", "PagingState", "get_engine"]
