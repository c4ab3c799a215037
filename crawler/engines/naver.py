"""Naver Images: JSON after `var imageSearchTabData=` with content.items[].originalUrl."""

from __future__ import annotations

from typing import Any

from crawler.proposal import UrlProposal, make_proposal
from crawler.engines.base import Engine, PagingState, build_url, json_after, load_json

MARKERS = ("imageSearchTabData=", "imageSearchTabData =")


class NaverEngine(Engine):
    name = "naver"
    default_base_url = "https://search.naver.com"
    paging = "navigate"

    def results_url(self, base_url: str, query: str, offset: int = 0) -> str:
        return build_url(base_url, "/search.naver",
                         {"where": "image", "sm": "tab_jum", "query": query, "start": offset + 1})

    def next_page_url(self, state: PagingState) -> str | None:
        return self.results_url(state.base_url, state.query, state.results_seen)

    def parse(self, text: str, page_url: str) -> list[UrlProposal]:
        blobs = [v for marker in MARKERS for v in json_after(text, marker)]
        if not blobs and text.lstrip()[:1] == "{":
            blobs = [load_json(text)]
        found, seen = [], set()
        for blob in blobs:
            for item in find_items(blob):
                proposal = make_proposal(
                    self.name, item.get("originalUrl"), item.get("thumb") or item.get("thumbnail"),
                    page_url, source_page=item.get("link") or item.get("sourceUrl"),
                    title=item.get("title"), width=item.get("orgWidth"), height=item.get("orgHeight"))
                if proposal and proposal.url not in seen:
                    seen.add(proposal.url)
                    found.append(proposal)
        return found


def find_items(blob: Any) -> list[dict]:
    """content.items[] when present, else the first list of dicts that carry originalUrl."""
    if isinstance(blob, dict):
        content = blob.get("content")
        if isinstance(content, dict) and isinstance(content.get("items"), list):
            return [i for i in content["items"] if isinstance(i, dict)]
        children = list(blob.values())
    elif isinstance(blob, list):
        if any(isinstance(i, dict) and "originalUrl" in i for i in blob):
            return [i for i in blob if isinstance(i, dict)]
        children = blob
    else:
        return []
    for child in children:
        items = find_items(child)
        if items:
            return items
    return []
