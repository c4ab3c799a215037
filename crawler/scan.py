"""Page scanning: crawling one engine's result pages through a started driver.

Loads the landing page, scrolls and clicks "more" while the page grows, then follows the engine's
paging (in-page fetch or navigation). Every wait is an explicit WebDriverWait. The driver comes
from `crawler/browser.py` (set-up only); this module never starts or quits one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from crawler.browser import first_line
from crawler.engines.base import Engine, PagingState
from crawler.errors import BrowserError, CrawlerError
from crawler.proposal import UrlProposal

log = logging.getLogger(__name__)

MAX_SCROLL_ROUNDS = 60
MAX_PAGES = 300
FETCH_SCRIPT = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: 'include'})
  .then(r => r.text().then(t => done([r.status, t])))
  .catch(e => done([0, String(e)]));
"""
DOM_SIZE_SCRIPT = "return document.getElementsByTagName('*').length;"
NET_ERROR_SCRIPT = """
const body = document.body;
if (!body || !(body.classList.contains('neterror') || document.documentURI.startsWith('chrome-error:')))
  return null;
const code = document.querySelector('.error-code');
return (code && code.textContent.trim()) || 'network error';
"""


class _Collector:
    """Dedupes by URL, applies `skip`, counts full-resolution results toward `limit`."""

    def __init__(self, query: str, limit: int, skip: int) -> None:
        self.query, self.limit, self.skip = query, limit, skip
        self.seen: set[str] = set()
        self.full = 0
        self.thumbnails = 0

    def take(self, found: list[UrlProposal]) -> list[UrlProposal]:
        fresh = []
        for proposal in found:
            if proposal.url in self.seen or self.done:
                continue
            self.seen.add(proposal.url)
            if len(self.seen) <= self.skip:
                continue
            self.thumbnails += proposal.is_thumbnail
            self.full += not proposal.is_thumbnail
            fresh.append(replace(proposal, query=self.query))
        return fresh

    @property
    def done(self) -> bool:
        return self.full >= self.limit


def search_candidates(driver: Any, engine: Engine, query: str, *, base_url: str | None = None,
                      limit: int = 100, skip: int = 0, settle_timeout: float = 2.0) -> Iterator[UrlProposal]:
    """Unique candidates in result order until `limit` full-resolution ones or the engine runs dry.

    Scrolls and clicks "more" until the page stops growing (explicit waits of `settle_timeout`),
    then follows the engine's paging (in-page fetch or navigation) until a page adds nothing new.
    Thumbnails are yielded flagged and do not count toward `limit`. `skip` drops the first
    unique results (a resumed crawl may also just let the caller ignore known URLs).
    """
    from selenium.common.exceptions import WebDriverException
    from urllib3.exceptions import HTTPError as DriverConnectionError

    base = engine.base(base_url)
    if not base:
        raise CrawlerError(f"the {engine.name} engine needs --base-url (the page to crawl)")
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise CrawlerError(f"--base-url must be an http(s) URL like http://127.0.0.1:8000, got {base!r}")
    landing = engine.results_url(base, query, 0)
    collector = _Collector(query, limit, skip)
    try:
        yield from crawl_pages(driver, engine, query, base, landing, collector, settle_timeout)
    except (WebDriverException, DriverConnectionError, ConnectionError) as exc:
        raise BrowserError(f"the browser failed while crawling {engine.name} for {query!r} "
                           f"({landing}): {first_line(exc)}") from None
    if collector.full == 0 and not collector.done:
        hint = " Google's markup changes often; try --engine bing." if engine.name == "google" else ""
        log.warning("%s: no full-resolution image URLs for %r at %s (%d thumbnails); the page layout "
                    "may have changed or the query has no results.%s", engine.name, query, landing,
                    collector.thumbnails, hint)


def crawl_pages(driver: Any, engine: Engine, query: str, base: str, landing: str,
                collector: _Collector, settle: float) -> Iterator[UrlProposal]:
    """The landing page with scrolling, then the engine's extra pages until nothing new arrives."""
    scan = _PageScan(driver, engine, collector, settle)
    yield from scan.run(landing, landing=True)
    if engine.paging == "none":
        return
    state = PagingState(base_url=base, query=query, landing_url=landing, landing_text=scan.text,
                        results_seen=scan.raw)
    for _ in range(MAX_PAGES):
        url = None if collector.done else engine.next_page_url(state)
        if url is None:
            return
        if engine.paging == "fetch":
            text = fetch_text(driver, url)
            if text is None:
                return
            found = engine.parse(text, url)
            fresh = collector.take(found)
            raw, new = len(found), len(fresh)
            yield from fresh
        else:
            yield from scan.run(url)
            text, raw, new = scan.text, scan.raw, scan.new
        if new == 0:
            return
        state = replace(state, last_url=url, last_text=text, pages_fetched=state.pages_fetched + 1,
                        results_seen=state.results_seen + raw)


class _PageScan:
    """Load one page, then scroll / click "more" while that keeps adding results."""

    STALE_ROUNDS = 2  # rounds in a row that grew the page but added no result

    def __init__(self, driver: Any, engine: Engine, collector: _Collector, settle: float) -> None:
        self.driver, self.engine, self.collector, self.settle = driver, engine, collector, settle
        self.text, self.raw, self.new, self.stale = "", 0, 0, 0

    def run(self, url: str, landing: bool = False) -> Iterator[UrlProposal]:
        self.text, self.raw, self.new, self.stale = "", 0, 0, 0
        for text in load_and_scroll(self.driver, self.engine, url, self.settle, self.keep_going, landing):
            found = self.engine.parse(text, self.driver.current_url or url)
            fresh = self.collector.take(found)
            self.text, self.raw = text, max(self.raw, len(found))
            self.new += len(fresh)
            self.stale = 0 if fresh else self.stale + 1
            yield from fresh

    def keep_going(self) -> bool:
        return not self.collector.done and self.stale < self.STALE_ROUNDS


def load_and_scroll(driver: Any, engine: Engine, url: str, settle: float,
                    keep_going: Callable[[], bool], landing: bool = False) -> Iterator[str]:
    """Page source after loading, then after each scroll/click that made the page grow."""
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    error = None
    try:
        driver.get(url)
        error = driver.execute_script(NET_ERROR_SCRIPT)
    except TimeoutException:
        log.warning("%s: %s did not finish loading; using what arrived", engine.name, url)
    except WebDriverException as exc:
        if "net::ERR_" not in str(exc.msg):
            raise
        error = str(exc.msg).split("net::", 1)[1].split()[0]
    if error and landing:
        raise CrawlerError(f"{engine.name}: cannot load {url} ({error}); is the site up?")
    if error:
        log.warning("%s: cannot load %s (%s); stopping here", engine.name, url, error)
        return
    yield page_source(driver, engine)
    for _ in range(MAX_SCROLL_ROUNDS):
        if not keep_going():
            return
        before = driver.execute_script(DOM_SIZE_SCRIPT)
        driver.execute_script("window.scrollTo(0, document.body.scrollHeight);")
        click_more(driver, engine)
        try:
            WebDriverWait(driver, settle, poll_frequency=0.1).until(
                lambda d: d.execute_script(DOM_SIZE_SCRIPT) > before)
        except TimeoutException:
            return
        yield page_source(driver, engine)


def page_source(driver: Any, engine: Engine) -> str:
    """The current DOM as HTML, after the engine's reveal step (if any) has run."""
    if engine.reveal_script:
        driver.execute_script(engine.reveal_script)
    return driver.page_source


def click_more(driver: Any, engine: Engine) -> None:
    """Click every visible "more results" control the engine knows about."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    for selector in engine.more_selectors:
        for element in driver.find_elements(By.CSS_SELECTOR, selector):
            try:
                if element.is_displayed():
                    driver.execute_script("arguments[0].click();", element)
            except WebDriverException as exc:  # stale or covered: the next round retries
                log.debug("could not click %s: %s", selector, first_line(exc))


def fetch_text(driver: Any, url: str) -> str | None:
    """GET `url` from inside the page (same origin, same cookies); navigate if fetch is refused."""
    status, text = driver.execute_async_script(FETCH_SCRIPT, url)
    if status == 0:
        log.debug("in-page fetch of %s failed (%s); navigating instead", url, text)
        driver.get(url)
        body = driver.execute_script("return document.body ? document.body.innerText : '';") or ""
        return body if body.lstrip()[:1] in "{[" else driver.page_source
    if status >= 400:  # 404 is how many mirrors say "no more pages"; anything else is worth a look
        log.log(logging.INFO if status == 404 else logging.WARNING,
                "%s returned HTTP %s; no more results from it", url, status)
        return None
    return text
