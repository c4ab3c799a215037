"""Bing Images: `a.iusc` results whose `m` attribute is JSON (murl full, turl thumb, purl page)."""

from __future__ import annotations

import json
import logging

from crawler.proposal import UrlProposal, make_proposal
from crawler.engines.base import (Engine, PagingState, build_url, first_img_src, has_class,
                                  parse_elements)

log = logging.getLogger(__name__)

ASYNC_COUNT = 35
# The page structure the parser reads; the replica's Bing pages (replica/pages/bing.py) are built
# from the same names so the two cannot drift apart.
SEARCH_PATH = "/images/search"
ASYNC_PATH = "/images/async"  # the HTML fragments Bing's infinite scroll fetches
RESULT_CLASS = "iusc"  # <a class="iusc" m="{JSON}">: one result
MORE_CLASS = "btn_seemore"  # the "See more images" button


class BingEngine(Engine):
    name = "bing"
    default_base_url = "https://www.bing.com"
    paging = "fetch"
    more_selectors = (f"a.{MORE_CLASS}", f"input.{MORE_CLASS}", ".mm_seemore a", f".{MORE_CLASS}")

    def results_url(self, base_url: str, query: str, offset: int = 0) -> str:
        return build_url(base_url, SEARCH_PATH, {"q": query, "first": offset + 1})

    def async_url(self, base_url: str, query: str, first: int, count: int = ASYNC_COUNT) -> str:
        """The HTML fragment Bing's own infinite scroll fetches."""
        return build_url(base_url, ASYNC_PATH, {"q": query, "first": first, "count": count})

    def next_page_url(self, state: PagingState) -> str | None:
        # Overlap by one result: harmless for 1-based `first` (deduped), exact for 0-based mirrors.
        return self.async_url(state.base_url, state.query, max(1, state.results_seen))

    def parse(self, text: str, page_url: str) -> list[UrlProposal]:
        elements = parse_elements(text)
        found = []
        for index, element in enumerate(elements):
            if element.tag != "a" or not has_class(element, RESULT_CLASS) or "m" not in element.attrs:
                continue
            meta = decode_m(element.attrs["m"])
            if meta is None:
                continue
            proposal = make_proposal(
                self.name, meta.get("murl"), meta.get("turl") or first_img_src(elements, index),
                page_url, source_page=meta.get("purl"), title=meta.get("t"),
                width=meta.get("mw") or meta.get("w"), height=meta.get("mh") or meta.get("h"))
            if proposal:
                found.append(proposal)
        return found


def decode_m(value: str) -> dict | None:
    """The `m` attribute after HTML unescaping; tolerates stray whitespace and non-dict junk."""
    try:
        meta = json.loads(value.strip())
    except ValueError:
        log.debug("bing: skipping a result whose m attribute is not JSON: %.80s", value)
        return None
    return meta if isinstance(meta, dict) else None
