"""The generic engine for any web page: every <img> (srcset largest first, lazy data-src) and
every link to an image file, resolved against the page URL."""

from __future__ import annotations

import re
from urllib.parse import quote_plus, urlsplit

from crawler.proposal import UrlProposal, absolute_url, is_thumbnail_url, make_proposal
from crawler.engines.base import Element, Engine, parse_elements
from workspace.imagecheck import IMAGE_SUFFIXES

# A link whose path ends like this points at an image: every suffix Harvest decodes plus AVIF,
# which sites serve; such a URL is proposed and ingest records its fate (not decodable) rather
# than the crawler never seeing it.
IMAGE_LINK_SUFFIXES = IMAGE_SUFFIXES + (".avif",)
LAZY_ATTRS = ("data-src", "data-original", "data-lazy-src", "data-full", "data-large", "data-hi-res")
SRCSET_ITEM = re.compile(r"\s*(\S+)(?:\s+([\d.]+)([wx]))?\s*(?:,|$)")


class PageEngine(Engine):
    name = "page"
    default_base_url = ""
    more_selectors = ("button.load-more", "a.load-more")

    def results_url(self, base_url: str, query: str, offset: int = 0) -> str:
        """The page itself; a `{query}` placeholder in the URL is filled with the query."""
        return base_url.replace("{query}", quote_plus(query)) if base_url else base_url

    def base(self, base_url: str | None) -> str:
        return base_url or ""

    def parse(self, text: str, page_url: str) -> list[UrlProposal]:
        elements = parse_elements(text)
        found: dict[str, UrlProposal] = {}
        anchored: set[int] = set()
        for index, element in enumerate(elements):
            if element.tag == "a" and is_image_link(absolute_url(element.attrs.get("href"), page_url)):
                imgs = [i for i in range(index + 1, len(elements)) if elements[i].parent == index
                        and elements[i].tag == "img"]
                anchored.update(imgs)
                thumbs = [u for i in imgs for u in img_urls(elements[i])]
                add(found, make_proposal(self.name, element.attrs["href"], thumbs[-1] if thumbs else None,
                                          page_url, source_page=page_url,
                                          title=element.attrs.get("title")))
        for index, element in enumerate(elements):
            if element.tag != "img" or index in anchored:
                continue
            urls = [u for u in img_urls(element) if absolute_url(u, page_url)]
            full = next((u for u in urls if not is_thumbnail_url(absolute_url(u, page_url))), None)
            thumb = next((u for u in reversed(urls) if u != full), None)
            add(found, make_proposal(self.name, full, thumb, page_url, source_page=page_url,
                                      title=element.attrs.get("alt"), width=element.attrs.get("width")
                                      if full and full == element.attrs.get("src") else None,
                                      height=element.attrs.get("height")
                                      if full and full == element.attrs.get("src") else None))
        return sorted(found.values(), key=lambda c: c.is_thumbnail)


def img_urls(element: Element) -> list[str]:
    """An <img>'s URLs, largest first: srcset by descriptor, then lazy attributes, then src."""
    attrs = element.attrs
    ranked = []
    for attr in ("srcset", "data-srcset"):
        for url, size, unit in SRCSET_ITEM.findall(attrs.get(attr, "")):
            if url and not url.startswith("data:"):
                ranked.append((float(size) * (1 if unit == "w" else 1000) if size else 1.0, url))
    urls = [url for _, url in sorted(ranked, key=lambda item: -item[0])]
    urls += [attrs[a] for a in LAZY_ATTRS if attrs.get(a)]
    if attrs.get("src"):
        urls.append(attrs["src"])
    return list(dict.fromkeys(u.strip() for u in urls if u.strip()))


def is_image_link(url: str | None) -> bool:
    return bool(url) and urlsplit(url).path.lower().endswith(IMAGE_LINK_SUFFIXES)


def add(found: dict[str, UrlProposal], proposal: UrlProposal | None) -> None:
    if proposal and proposal.url not in found:
        found[proposal.url] = proposal
