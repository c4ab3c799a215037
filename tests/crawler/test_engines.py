"""Engine parsers on hand-written pages in the shapes the real engines use (with the variations
found in the wild), and on the replica's pages fetched over HTTP without a browser."""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest

from crawler.proposal import is_thumbnail_url, make_proposal
from crawler.engines import ENGINES, PagingState, get_engine
from crawler.engines.duckduckgo import extract_vqd
from crawler.errors import CrawlerError

PAGE = "https://www.bing.com/images/search?q=daisy&first=1"


def test_registry_knows_every_engine_and_names_them_on_a_typo():
    assert set(ENGINES) == {"bing", "duckduckgo", "naver", "google", "page"}
    assert get_engine("Bing").name == "bing"
    with pytest.raises(CrawlerError, match="unknown engine 'bign'; known: bing, duckduckgo"):
        get_engine("bign")


@pytest.mark.parametrize("url", [
    "data:image/jpeg;base64,/9j/4AAQ", "https://tse2.mm.bing.net/th?id=OIP.abc&pid=Api",
    "https://th.bing.com/th/id/OIP.x", "https://encrypted-tbn0.gstatic.com/images?q=tbn:abc",
    "https://external-content.duckduckgo.com/iu/?u=https%3A%2F%2Fa.com%2Fx.jpg",
    "https://search.pstatic.net/common/?src=http%3A%2F%2Fa.kr%2Fx.jpg&type=b400",
    "http://127.0.0.1:8000/th?id=abc123",
])
def test_known_thumbnail_urls_are_never_full_resolution(url):
    assert is_thumbnail_url(url)


def test_ordinary_image_urls_are_full_resolution():
    assert not is_thumbnail_url("https://upload.wikimedia.org/a/daisy.jpg")
    assert not is_thumbnail_url("https://example.com/th/daisy.jpg")


def test_a_result_with_only_a_thumbnail_becomes_a_flagged_thumbnail():
    thumb = make_proposal("bing", None, "https://tse1.mm.bing.net/th?id=1", PAGE)
    assert thumb.is_thumbnail and thumb.url == "https://tse1.mm.bing.net/th?id=1"
    assert make_proposal("bing", "data:image/png;base64,AAA", "data:image/png;base64,BBB", PAGE) is None


# --- Bing ------------------------------------------------------------------------------------
BING_PAGE = """<!DOCTYPE html><html><body><div id="mmComponent_images_1">
<ul class="dgControl_list">
 <li><div class="iuscp"><div class="imgpt">
  <a class="iusc" style="height:100px" m="{&quot;cid&quot;:&quot;x1&quot;,&quot;purl&quot;:&quot;https://site.example/daisy.html&quot;,&quot;murl&quot;:&quot;https://site.example/img/daisy1.jpg&quot;,&quot;turl&quot;:&quot;https://tse3.mm.bing.net/th?id=OIP.1&quot;,&quot;t&quot;:&quot;Daisy &amp; friends&quot;}" href="/images/search?view=detailV2">
   <div class="img_cont"><img class="mimg" src="https://tse3.mm.bing.net/th?id=OIP.1"></div></a>
 </div></div></li>
 <li><a class='iusc' m='{"murl":"https://cdn.example/d2.png","turl":"https://tse1.mm.bing.net/th?id=OIP.2","purl":"https://cdn.example/p2"}'>x</a></li>
 <li><a class="iusc" m="{&#34;murl&#34;:&#34;/relative/d3.jpg&#34;,&#34;turl&#34;:&#34;https://tse1.mm.bing.net/th?id=3&#34;}"></a></li>
 <li><a class="iusc" m="{&quot;turl&quot;:&quot;https://tse1.mm.bing.net/th?id=OIP.4&quot;}"></a></li>
 <li><a class="iusc" m="{&quot;t&quot;:&quot;no urls at all&quot;}"><img data-src="https://tse1.mm.bing.net/th?id=5"></a></li>
 <li><a class="iusc" m="{not json"></a><a class="iusc">no m</a><a class="other" m='{"murl":"https://x/ignored.jpg"}'></a></li>
</ul></div>
<div class="outside"><section><div><a href="#" class="thumb iusc big" m='{"murl":"https://elsewhere.example/d6.jpg"}'></a></div></section></div>
</body></html>"""


def test_bing_takes_every_a_iusc_m_attribute_wherever_it_sits():
    found = ENGINES["bing"].parse(BING_PAGE, PAGE)
    full = [c.url for c in found if not c.is_thumbnail]
    assert full == ["https://site.example/img/daisy1.jpg", "https://cdn.example/d2.png",
                    "https://www.bing.com/relative/d3.jpg", "https://elsewhere.example/d6.jpg"]
    first = found[0]
    assert (first.thumbnail_url, first.page_url, first.title) == (
        "https://tse3.mm.bing.net/th?id=OIP.1", "https://site.example/daisy.html", "Daisy & friends")
    thumbs = [c for c in found if c.is_thumbnail]
    assert [c.url for c in thumbs] == ["https://tse1.mm.bing.net/th?id=OIP.4", "https://tse1.mm.bing.net/th?id=5"]


def test_bing_async_fragment_parses_and_paging_uses_the_async_endpoint():
    fragment = "".join(
        f'<li><a class="iusc" m="{{&quot;murl&quot;:&quot;https://a.example/{i}.jpg&quot;}}"></a></li>'
        for i in range(3))
    assert len(ENGINES["bing"].parse(fragment, "https://www.bing.com/images/async?q=x")) == 3
    state = PagingState(base_url="http://127.0.0.1:9", query="red daisy", landing_url="x",
                        landing_text="", results_seen=35)
    url = ENGINES["bing"].next_page_url(state)
    assert url.startswith("http://127.0.0.1:9/images/async?q=red+daisy&first=35&count=35")


# --- DuckDuckGo ------------------------------------------------------------------------------
@pytest.mark.parametrize("snippet", [
    '<script>vqd="4-1234567";</script>', "<script>vqd='4-1234567'</script>",
    '<script>DDG.deep.initialize("/d.js", {vqd:"4-1234567", q:"x"})</script>',
    '<script>var cfg = {"vqd":"4-1234567"};</script>',
    '<form><input type="hidden" name="vqd" value="4-1234567"></form>',
    '<div id="links" data-vqd="4-1234567"></div>',
    '<link rel="preload" href="/i.js?q=x&amp;vqd=4-1234567&amp;o=json">',
    '<script>nrj("/d.js?q=daisy&l=us-en&vqd=4-1234567&p=1")</script>',
    '<script>var x = {"vqd":{"daisy":"4-1234567"}};</script>',
])
def test_duckduckgo_finds_the_vqd_token_in_its_usual_forms(snippet):
    assert extract_vqd(f"<html><body>{snippet}</body></html>") == "4-1234567"


def ddg_state(landing: str, last_url: str | None = None, last: object = None) -> PagingState:
    return PagingState(base_url="http://127.0.0.1:9", query="daisy", landing_url="http://127.0.0.1:9/?q=daisy",
                       landing_text=landing, last_url=last_url,
                       last_text=None if last is None else json.dumps(last))


def test_duckduckgo_pages_through_i_js_following_next():
    engine = ENGINES["duckduckgo"]
    first = engine.next_page_url(ddg_state('vqd="4-77"'))
    assert first == "http://127.0.0.1:9/i.js?o=json&q=daisy&vqd=4-77&s=0"
    page = {"results": [{}], "next": "i.js?q=daisy&o=json&s=100"}
    follow = engine.next_page_url(ddg_state('vqd="4-77"', first, page))
    assert follow.startswith("http://127.0.0.1:9/i.js?q=daisy&o=json&s=100") and "vqd=4-77" in follow
    # no `next` but results came: keep going by offset; an empty page ends it
    guess = engine.next_page_url(ddg_state('vqd="4-77"', first, {"results": [{}, {}]}))
    assert guess == "http://127.0.0.1:9/i.js?o=json&q=daisy&vqd=4-77&s=2"
    assert engine.next_page_url(ddg_state('vqd="4-77"', first, {"results": []})) is None


def test_duckduckgo_without_a_vqd_token_warns_and_stops(caplog):
    with caplog.at_level(logging.WARNING):
        assert ENGINES["duckduckgo"].next_page_url(ddg_state("<html>no token</html>")) is None
    assert "no vqd token" in caplog.text


def test_duckduckgo_parses_json_results_with_missing_fields():
    data = {"results": [
        {"image": "https://a.example/1.jpg", "thumbnail": "https://tse4.mm.bing.net/th?id=1",
         "url": "https://a.example/page", "width": 1200, "height": "800", "title": "one"},
        {"image": "https://b.example/2.webp"},
        {"image": "https://external-content.duckduckgo.com/iu/?u=x",
         "thumbnail": "https://tse1.mm.bing.net/th?id=3"},
        {"image": "data:image/jpeg;base64,AAAA", "thumbnail": "https://tse1.mm.bing.net/th?id=4"},
        "junk", {"title": "nothing"},
    ], "next": "i.js?s=100"}
    found = ENGINES["duckduckgo"].parse(json.dumps(data), "https://duckduckgo.com/i.js?q=x")
    assert [(c.url, c.is_thumbnail) for c in found] == [
        ("https://a.example/1.jpg", False), ("https://b.example/2.webp", False),
        ("https://tse1.mm.bing.net/th?id=3", True), ("https://tse1.mm.bing.net/th?id=4", True)]
    assert (found[0].width, found[0].height, found[0].page_url) == (1200, 800, "https://a.example/page")
    assert ENGINES["duckduckgo"].parse("<html><body>tiles only</body></html>", "https://duckduckgo.com/") == []


# --- Naver -----------------------------------------------------------------------------------
NAVER_PAGE = """<html><body><div class="photo_tile"><img class="_image" src="https://search.pstatic.net/common/?src=a"></div>
<script type="text/javascript">
  var other = {"a": 1};
  var imageSearchTabData= {"meta": {"q": "daisy {"}, "content": {"start": 1, "items": [
    {"title": "brace } in title", "originalUrl": "https://blog.example.kr/daisy1.jpg", "orgWidth": 1024,
     "orgHeight": "768", "thumb": "https://search.pstatic.net/common/?src=1", "link": "https://blog.example.kr/p1"},
    {"title": "no original", "originalUrl": "", "thumb": "https://search.pstatic.net/common/?src=2"},
    {"originalUrl": "https://cafe.example.kr/d3.png", "orgWidth": "x"}
  ]}};
  var afterwards = {"items": [{"originalUrl": "https://wrong.example/greedy.jpg"}]};
</script>
<script>var imageSearchTabData = {"content": {"items": [{"originalUrl": "https://more.example.kr/d4.jpg"}]}};</script>
</body></html>"""


def test_naver_reads_every_imageSearchTabData_block_by_brace_matching():
    found = ENGINES["naver"].parse(NAVER_PAGE, "https://search.naver.com/search.naver?where=image")
    assert [(c.url, c.is_thumbnail) for c in found] == [
        ("https://blog.example.kr/daisy1.jpg", False), ("https://search.pstatic.net/common/?src=2", True),
        ("https://cafe.example.kr/d3.png", False), ("https://more.example.kr/d4.jpg", False)]
    assert (found[0].width, found[0].height, found[0].page_url) == (1024, 768, "https://blog.example.kr/p1")
    assert found[2].width is None


def test_naver_pages_by_start():
    state = PagingState(base_url="https://search.naver.com", query="데이지", landing_url="x",
                        landing_text="", results_seen=50)
    url = ENGINES["naver"].next_page_url(state)
    assert "where=image" in url and "start=51" in url and "query=%EB%8D%B0" in url


# --- Google ----------------------------------------------------------------------------------
GOOGLE_PAGE = """<html><body><div id="islrg">
<div class="isv-r" data-id="a"><a href="/imgres?imgurl=https%3A%2F%2Fa.example%2Fdaisy.jpg&amp;imgrefurl=https%3A%2F%2Fa.example%2Fpage&amp;h=600&amp;w=800&amp;tbnid=1"><img src="data:image/gif;base64,R0lGOD" data-src="https://encrypted-tbn0.gstatic.com/images?q=tbn:1"></a></div>
<div class="isv-r" data-id="b"><img src="https://encrypted-tbn0.gstatic.com/images?q=tbn:2"></div>
</div>
<script>var u = "/imgres?imgurl\\u003dhttps%3A%2F%2Fb.example%2Fb.png\\u0026imgrefurl\\u003dhttps%3A%2F%2Fb.example%2F";
AF_initDataCallback({data: [["https://encrypted-tbn0.gstatic.com/images?q=tbn:3",194,259],["https://c.example/c.jpg",1200,1600]]});
</script></body></html>"""


def test_google_reads_imgres_links_escaped_links_and_inline_arrays():
    found = ENGINES["google"].parse(GOOGLE_PAGE, "https://www.google.com/search?q=daisy&tbm=isch")
    full = {c.url: c for c in found if not c.is_thumbnail}
    assert set(full) == {"https://a.example/daisy.jpg", "https://b.example/b.png", "https://c.example/c.jpg"}
    assert (full["https://a.example/daisy.jpg"].width, full["https://a.example/daisy.jpg"].height) == (800, 600)
    assert full["https://c.example/c.jpg"].width == 1600
    assert [c.url for c in found if c.is_thumbnail] == ["https://encrypted-tbn0.gstatic.com/images?q=tbn:2"]


def test_google_on_a_changed_layout_finds_no_full_resolution_urls():
    page = '<html><body><div class="new-layout"><img src="https://encrypted-tbn0.gstatic.com/x"></div></body>'
    assert ENGINES["google"].parse(page, "https://www.google.com/search") == []


# --- page ------------------------------------------------------------------------------------
GALLERY = """<html><body>
<img src="small.jpg" srcset="small.jpg 320w, big.jpg 1600w, medium.jpg 800w" width="320">
<img src="low.jpg" srcset="hi.jpg 2x, low.jpg 1x">
<img class="lazy" src="data:image/gif;base64,R0lGOD" data-src="/lazy/full.jpg">
<img src="data:image/gif;base64,AAAA" data-original="//cdn.example/orig.webp">
<a href="photos/full-a.png"><img src="https://tse1.mm.bing.net/th?id=a"></a>
<a href="/about.html">about</a><a href="doc.pdf">pdf</a>
<img src="data:image/png;base64,ONLYDATA">
<img src="https://encrypted-tbn0.gstatic.com/images?q=tbn:z">
<IMG SRC='Upper.JPG'>
</body></html>"""


def test_page_engine_takes_imgs_srcset_lazy_attributes_and_image_links():
    found = ENGINES["page"].parse(GALLERY, "https://gallery.example/flowers/index.html")
    full = [c.url for c in found if not c.is_thumbnail]
    assert full == ["https://gallery.example/flowers/photos/full-a.png", "https://gallery.example/flowers/big.jpg",
                    "https://gallery.example/flowers/hi.jpg", "https://gallery.example/lazy/full.jpg",
                    "https://cdn.example/orig.webp", "https://gallery.example/flowers/Upper.JPG"]
    assert [c.url for c in found if c.is_thumbnail] == ["https://encrypted-tbn0.gstatic.com/images?q=tbn:z"]
    assert found[1].thumbnail_url == "https://gallery.example/flowers/small.jpg"


def test_page_engine_fills_a_query_placeholder():
    assert ENGINES["page"].results_url("http://h/gallery?q={query}", "red roses") == "http://h/gallery?q=red+roses"


# --- the replica's pages, fetched without a browser ------------------------------------------
def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


def crawl_without_browser(engine_name: str, base: str, query: str) -> list:
    """Follow the engine's own paging with plain HTTP (what the browser does, minus scrolling)."""
    engine = ENGINES[engine_name]
    landing = engine.results_url(base + ("/gallery?q={query}" if engine_name == "page" else ""), query)
    text = get(landing)
    found = engine.parse(text, landing)
    state = PagingState(base_url=base, query=query, landing_url=landing, landing_text=text,
                        results_seen=len(found))
    seen = {c.url for c in found}
    while engine.paging != "none" and (url := engine.next_page_url(state)):
        page_text = get(url)
        page = engine.parse(page_text, url)
        new = [c for c in page if c.url not in seen]
        if not new:
            break
        seen.update(c.url for c in new)
        found += new
        state = PagingState(base, query, landing, text, url, page_text, state.pages_fetched + 1,
                            state.results_seen + len(page))
    return found


@pytest.mark.parametrize("engine_name", ["bing", "duckduckgo", "naver", "page"])
def test_parsers_read_the_replica_pages_completely(engine_name, replica_site):
    truth = replica_site.truth()
    expected = {url for url, info in truth.items() if info["class"] == "roses"}
    found = crawl_without_browser(engine_name, replica_site.base_url, "roses")
    assert {c.url for c in found} == expected
    for proposal in found:
        assert proposal.is_thumbnail == (truth[proposal.url]["kind"] == "thumbnail")


def test_google_replica_links_hidden_until_mousedown_read_as_thumbnails_without_a_browser(replica_site):
    """Like Google, only the first tiles carry /imgres links; the browser test reveals the rest."""
    truth = replica_site.truth()
    url = ENGINES["google"].results_url(replica_site.base_url, "daisy")
    found = ENGINES["google"].parse(get(url), url)
    full = [c for c in found if not c.is_thumbnail]
    assert 1 <= len(full) <= 4 and all(truth[c.url]["class"] == "daisy" for c in full)
    assert len(found) == replica_site.config.per_page
    assert all("/th?id=" in c.url for c in found if c.is_thumbnail)
