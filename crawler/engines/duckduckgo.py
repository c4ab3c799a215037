"""DuckDuckGo Images: a `vqd` token on the page, then JSON pages from `/i.js` following `next`."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, unquote, urlencode, urljoin, urlsplit, urlunsplit

from crawler.proposal import UrlProposal, make_proposal
from crawler.engines.base import Engine, PagingState, build_url, load_json, parse_elements, query_param

log = logging.getLogger(__name__)

VQD_PATTERNS = (
    re.compile(r"""["']?\bvqd["']?\s*[=:]\s*["']([^"'\s<>]+)["']"""),   # vqd="..", vqd:'..', "vqd":".."
    re.compile(r"""[?&;]vqd=([^&"'\s<>\\]+)"""),                          # inside a URL
    re.compile(r"""["']?\bvqd["']?\s*[=:]\s*\{\s*["'][^"']*["']\s*:\s*["']([^"'\s<>]+)["']"""),
)


def extract_vqd(text: str) -> str | None:
    """The vqd token in any of its usual spellings: script assignment, URL, hidden input, data-*."""
    for element in parse_elements(text) if "vqd" in text else ():
        attrs = element.attrs
        if attrs.get("data-vqd"):
            return attrs["data-vqd"]
        if element.tag == "input" and attrs.get("name") == "vqd" and attrs.get("value"):
            return attrs["value"]
    for pattern in VQD_PATTERNS:
        match = pattern.search(text)
        if match:
            return unquote(match.group(1))
    return None


class DuckDuckGoEngine(Engine):
    name = "duckduckgo"
    default_base_url = "https://duckduckgo.com"
    paging = "fetch"

    def results_url(self, base_url: str, query: str, offset: int = 0) -> str:
        return build_url(base_url, "/", {"q": query, "iax": "images", "ia": "images"})

    def json_url(self, base_url: str, query: str, vqd: str, offset: int = 0) -> str:
        return build_url(base_url, "/i.js", {"o": "json", "q": query, "vqd": vqd, "s": offset})

    def next_page_url(self, state: PagingState) -> str | None:
        vqd = extract_vqd(state.landing_text)
        if state.last_text is None or state.last_url is None:
            if vqd is None:
                log.warning("duckduckgo: no vqd token on %s; cannot fetch image results",
                            state.landing_url)
                return None
            return self.json_url(state.base_url, state.query, vqd, 0)
        data = load_json(state.last_text)
        if not isinstance(data, dict):
            return None
        vqd = query_param(state.last_url, "vqd") or vqd
        next_ref = data.get("next")
        if isinstance(next_ref, str) and next_ref.strip():
            return with_vqd(urljoin(state.base_url + "/", next_ref.strip()), vqd)
        results = data.get("results")
        if not isinstance(results, list) or not results or vqd is None:
            return None
        offset = int(query_param(state.last_url, "s") or 0) + len(results)  # no `next`: keep going
        return self.json_url(state.base_url, state.query, vqd, offset)

    def parse(self, text: str, page_url: str) -> list[UrlProposal]:
        data = load_json(text) if text.lstrip()[:1] in "{[" or "<" not in text[:200] else None
        results = data.get("results") if isinstance(data, dict) else data
        if not isinstance(results, list):
            return []
        found = []
        for item in results:
            if not isinstance(item, dict):
                continue
            proposal = make_proposal(self.name, item.get("image"), item.get("thumbnail"), page_url,
                                       source_page=item.get("url"), title=item.get("title"),
                                       width=item.get("width"), height=item.get("height"))
            if proposal:
                found.append(proposal)
        return found


def with_vqd(url: str, vqd: str | None) -> str:
    """`next` links usually carry vqd; add it when a mirror leaves it out."""
    parts = urlsplit(url)
    params = parse_qs(parts.query, keep_blank_values=True)
    if vqd and "vqd" not in params:
        params["vqd"] = [vqd]
    return urlunsplit(parts._replace(query=urlencode(params, doseq=True)))
