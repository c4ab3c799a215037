"""What every engine plugin provides, plus the small pure helpers their parsers share.

An engine never touches the browser: it builds URLs and turns page text (HTML or JSON) into
UrlProposals. `crawler.scan` does the loading, scrolling, clicking and paging, asking the
engine for the next URL through `next_page_url(PagingState)`.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

from crawler.proposal import UrlProposal

log = logging.getLogger(__name__)

VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())


@dataclass(frozen=True)
class PagingState:
    """What the browser has seen so far for one query, handed to `Engine.next_page_url`."""

    base_url: str
    query: str
    landing_url: str
    landing_text: str
    last_url: str | None = None       # the last extra page fetched (None: only the landing page)
    last_text: str | None = None
    pages_fetched: int = 0
    results_seen: int = 0             # raw results parsed so far, duplicates included


class Engine(ABC):
    """A search engine plugin: URLs in, URL proposals out; `paging` says how to go deeper."""

    name: ClassVar[str]
    default_base_url: ClassVar[str]
    paging: ClassVar[str] = "none"            # "fetch" (in-page fetch), "navigate" or "none"
    more_selectors: ClassVar[tuple[str, ...]] = ()  # "more results" buttons worth clicking
    reveal_script: ClassVar[str | None] = None  # JS run before reading the page (e.g. hover links)

    def base(self, base_url: str | None) -> str:
        return (base_url or self.default_base_url).rstrip("/")

    @abstractmethod
    def results_url(self, base_url: str, query: str, offset: int = 0) -> str:
        """The results page for `query`, starting `offset` results deep."""

    @abstractmethod
    def parse(self, text: str, page_url: str) -> list[UrlProposal]:
        """Every result in `text` (HTML or JSON), full-resolution first choice, in page order."""

    def next_page_url(self, state: PagingState) -> str | None:
        """The next URL to load for more results, or None when the engine pages only by scrolling."""
        return None


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: int | None
    text: list[str] = field(default_factory=list)


class _ElementCollector(HTMLParser):
    """A forgiving flat DOM: every start tag with unescaped attributes and its parent index."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.stack: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        parent = self.stack[-1] if self.stack else None
        self.elements.append(Element(tag, {k.lower(): v or "" for k, v in attrs}, parent))
        if tag not in VOID_TAGS:
            self.stack.append(len(self.elements) - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        parent = self.stack[-1] if self.stack else None
        self.elements.append(Element(tag, {k.lower(): v or "" for k, v in attrs}, parent))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.elements[self.stack[depth]].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.elements[self.stack[-1]].text.append(data)


def parse_elements(text: str) -> list[Element]:
    collector = _ElementCollector()
    collector.feed(text)
    collector.close()
    return collector.elements


def has_class(element: Element, name: str) -> bool:
    return name in element.attrs.get("class", "").split()


def descendants(elements: list[Element], index: int) -> list[Element]:
    """Elements nested inside elements[index], in document order."""
    found, inside = [], {index}
    for i in range(index + 1, len(elements)):
        if elements[i].parent in inside:
            inside.add(i)
            found.append(elements[i])
    return found


def first_img_src(elements: list[Element], index: int) -> str | None:
    for child in descendants(elements, index):
        if child.tag == "img":
            for key in ("src", "data-src", "data-original", "data-lazy-src"):
                if child.attrs.get(key):
                    return child.attrs[key]
    return None


def balanced_json(text: str, start: int) -> tuple[Any, int] | None:
    """Decode the JSON object/array starting at or after `start` by brace matching (strings aware)."""
    n = len(text)
    while start < n and text[start] in " \t\r\n=:":
        start += 1
    if start >= n or text[start] not in "{[":
        return None
    depth, quote, i = 0, "", start
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                try:
                    return json.loads(text[start:i + 1]), i + 1
                except ValueError as exc:
                    log.debug("embedded JSON at %d is not valid: %s", start, exc)
                    return None
        i += 1
    return None


def json_after(text: str, marker: str) -> list[Any]:
    """Every JSON value that follows an occurrence of `marker` (e.g. 'var imageSearchTabData=')."""
    values, position = [], 0
    while (found := text.find(marker, position)) >= 0:
        decoded = balanced_json(text, found + len(marker))
        if decoded is not None:
            values.append(decoded[0])
        position = found + len(marker)
    return values


def load_json(text: str) -> Any:
    """A JSON body, also when wrapped (a browser's <pre>, a JSONP call): the first balanced object."""
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        start = stripped.find("{")
        decoded = balanced_json(stripped, start) if start >= 0 else None
        return decoded[0] if decoded else None


def query_param(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


def build_url(base: str, path: str, params: dict[str, Any]) -> str:
    return f"{base.rstrip('/')}{path}?{urlencode(params)}"
