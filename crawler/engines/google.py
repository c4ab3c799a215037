"""Google Images, best effort: `/imgres?imgurl=FULL&imgrefurl=PAGE&w=..&h=..` links and the
`["https://full", height, width]` arrays of its inline data. Its markup rotates; the browser
module warns loudly when a page gives zero full-resolution URLs."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

from crawler.proposal import UrlProposal, is_thumbnail_url, make_proposal
from crawler.engines.base import Engine, PagingState, build_url, first_img_src, parse_elements

IMGRES_RE = re.compile(r"""imgres\?[^"'\s<>]*imgurl[^"'\s<>]*""")
INLINE_RE = re.compile(r"""\["(https?://[^"\\]+)",\s*(\d+),\s*(\d+)\]""")


class GoogleEngine(Engine):
    name = "google"
    default_base_url = "https://www.google.com"
    paging = "navigate"
    more_selectors = ("input.mye4qd", "input[value='Show more results']", ".YstHxe input")
    # Google fills a result's /imgres href only on mousedown; press every result link first.
    reveal_script = """
let pressed = 0;
document.querySelectorAll('[data-id] a, .isv-r a').forEach(function (a) {
  if ((a.getAttribute('href') || '').indexOf('imgres') < 0) {
    a.dispatchEvent(new MouseEvent('mousedown', {bubbles: true})); pressed++;
  }
});
return pressed;"""

    def results_url(self, base_url: str, query: str, offset: int = 0) -> str:
        params = {"q": query, "tbm": "isch", **({"start": offset} if offset else {})}
        return build_url(base_url, "/search", params)

    def next_page_url(self, state: PagingState) -> str | None:
        return self.results_url(state.base_url, state.query, state.results_seen)

    def parse(self, text: str, page_url: str) -> list[UrlProposal]:
        found: dict[str, UrlProposal] = {}
        elements = parse_elements(text)
        for index, element in enumerate(elements):
            href = element.attrs.get("href", "")
            if element.tag == "a" and "imgres?" in href:
                add(found, imgres_proposal(href, first_img_src(elements, index), page_url))
            elif element.tag == "img" and is_result_thumbnail(elements, index):
                thumb = element.attrs.get("data-src") or element.attrs.get("src")
                add(found, make_proposal(self.name, None, thumb, page_url, title=element.attrs.get("alt")))
        for match in IMGRES_RE.finditer(text.replace("\\u003d", "=").replace("\\u0026", "&")):
            add(found, imgres_proposal(html.unescape(match.group(0)), None, page_url))
        for url, height, width in INLINE_RE.findall(text):
            if not is_thumbnail_url(url):
                add(found, make_proposal(self.name, url, None, page_url, width=width, height=height))
        full = [c for c in found.values() if not c.is_thumbnail]
        full_thumbs = {c.thumbnail_url for c in full}
        return full + [c for c in found.values() if c.is_thumbnail and c.url not in full_thumbs]


def imgres_proposal(href: str, thumbnail: str | None, page_url: str) -> UrlProposal | None:
    params = parse_qs(urlsplit(href).query)
    first = {k: v[0] for k, v in params.items() if v}
    return make_proposal("google", first.get("imgurl"), thumbnail, page_url,
                          source_page=first.get("imgrefurl"), width=first.get("w"), height=first.get("h"))


def is_result_thumbnail(elements: list, index: int) -> bool:
    """An <img> inside a result tile (div.isv-r or data-id) that has no imgres link."""
    parent = elements[index].parent
    while parent is not None:
        element = elements[parent]
        if element.tag == "a" and "imgres?" in element.attrs.get("href", ""):
            return False
        if "isv-r" in element.attrs.get("class", "").split():
            return True
        parent = element.parent
    return False


def add(found: dict[str, UrlProposal], proposal: UrlProposal | None) -> None:
    if proposal and proposal.url not in found:
        found[proposal.url] = proposal
