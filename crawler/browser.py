"""The one module that drives Selenium: finding a browser and driver, and crawling an engine.

Driver resolution never hangs offline: an explicit path (flag or HARVEST_DRIVER), the system
driver, then webdriver-manager only if its host answers within 1.5 s, else a BrowserError
listing what was tried. Every wait is an explicit WebDriverWait; the browser is always quit and
its temporary profile removed, even on errors, and killed with its owner (`crawler/reaper.py`).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from crawler.proposal import UrlProposal
from crawler.engines.base import Engine, PagingState
from crawler.errors import BrowserError, CrawlerError
from crawler.reaper import BrowserReaper, reaped_service

log = logging.getLogger(__name__)

BROWSERS = ("chromium", "chrome", "firefox")
SYSTEM_DRIVERS = {"chromium": ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"),
                  "chrome": ("/usr/bin/chromedriver",), "firefox": ("/usr/bin/geckodriver",)}
DRIVER_NAMES = {"chromium": "chromedriver", "chrome": "chromedriver", "firefox": "geckodriver"}
BINARY_NAMES = {"chromium": ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"),
                "chrome": ("google-chrome", "google-chrome-stable", "chromium", "chromium-browser"),
                "firefox": ("firefox", "firefox-esr")}
WDM_HOSTS = {"chromium": "googlechromelabs.github.io", "chrome": "googlechromelabs.github.io",
             "firefox": "api.github.com"}
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-extensions", "--window-size=1280,1000")
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


@dataclass(frozen=True)
class BrowserConfig:
    """Which browser to run and how; paths fall back to env vars, then the system, then downloads."""

    browser: str = "chromium"
    headless: bool = True
    driver_path: str | None = None
    binary_path: str | None = None
    remote_url: str | None = None
    page_timeout: float = 30.0
    load_images: bool = False          # crawling needs the markup, not the pictures
    use_webdriver_manager: bool = True  # also off when HARVEST_OFFLINE=1

    def __post_init__(self) -> None:
        if self.browser not in BROWSERS:
            raise CrawlerError(f"unknown browser {self.browser!r}; known: {', '.join(BROWSERS)}")
        if not self.page_timeout > 0:
            raise CrawlerError(f"page_timeout must be > 0 seconds, got {self.page_timeout}")


def resolve_driver(config: BrowserConfig) -> str:
    """Path of the driver executable, or a BrowserError naming every place that was tried."""
    name = DRIVER_NAMES[config.browser]
    explicit = config.driver_path or os.environ.get("HARVEST_DRIVER")
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        source = "--driver" if config.driver_path else "HARVEST_DRIVER"
        raise BrowserError(f"{source} points at {explicit}, which is not an executable {name}")
    tried = list(SYSTEM_DRIVERS[config.browser]) + [f"{name} on PATH"]
    for path in SYSTEM_DRIVERS[config.browser]:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    if found := shutil.which(name):
        return found
    downloaded = webdriver_manager_driver(config, tried)
    if downloaded:
        return downloaded
    raise BrowserError(f"no {name} found (tried: {', '.join(tried)}); install one (e.g. `sh "
                       f"crawler/ensure_browser.sh`) or set HARVEST_DRIVER")


def webdriver_manager_driver(config: BrowserConfig, tried: list[str]) -> str | None:
    """Download a driver with webdriver-manager, but only when its host answers quickly."""
    host = WDM_HOSTS[config.browser]
    if not config.use_webdriver_manager or os.environ.get("HARVEST_OFFLINE") == "1":
        tried.append("webdriver-manager (disabled)")
        return None
    if not host_reachable(host):
        tried.append(f"webdriver-manager (offline: {host} unreachable)")
        return None
    tried.append("webdriver-manager")
    try:
        manager = webdriver_manager_for(config.browser)
        return manager.install()
    except Exception as exc:  # noqa: BLE001 - any download failure means "not found", with why
        tried[-1] = f"webdriver-manager ({type(exc).__name__}: {str(exc).splitlines()[0][:100]})"
        return None


def webdriver_manager_for(browser: str) -> Any:
    """A webdriver-manager whose HTTP calls time out (its default client waits forever)."""
    from webdriver_manager.core.download_manager import WDMDownloadManager
    from webdriver_manager.core.http import WDMHttpClient

    class TimeoutHttpClient(WDMHttpClient):
        def get(self, url: str, **kwargs: Any) -> Any:
            return super().get(url, timeout=(3, 60), **kwargs)

    downloads = WDMDownloadManager(http_client=TimeoutHttpClient())
    if browser == "firefox":
        from webdriver_manager.firefox import GeckoDriverManager
        return GeckoDriverManager(download_manager=downloads)
    from webdriver_manager.chrome import ChromeDriverManager
    from webdriver_manager.core.os_manager import ChromeType
    kind = ChromeType.CHROMIUM if browser == "chromium" else ChromeType.GOOGLE
    return ChromeDriverManager(chrome_type=kind, download_manager=downloads)


def host_reachable(host: str, port: int = 443, timeout: float = 1.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_binary(config: BrowserConfig) -> str:
    """Path of the browser executable (flag, HARVEST_BROWSER_BINARY, then the usual names)."""
    explicit = config.binary_path or os.environ.get("HARVEST_BROWSER_BINARY")
    if explicit:
        found = explicit if os.path.isfile(explicit) else shutil.which(explicit)
        if found:
            return found
        source = "--browser-binary" if config.binary_path else "HARVEST_BROWSER_BINARY"
        raise BrowserError(f"{source} points at {explicit}, which does not exist")
    names = BINARY_NAMES[config.browser]
    for name in names:
        if found := shutil.which(name):
            return found
    raise BrowserError(f"no {config.browser} browser found (tried: {', '.join(names)} on PATH); "
                       "install one or set HARVEST_BROWSER_BINARY")


@contextmanager
def open_browser(config: BrowserConfig) -> Iterator[Any]:
    """A ready WebDriver; always quit on exit, and its temporary profile deleted."""
    from selenium.common.exceptions import WebDriverException

    local_chromium = config.browser != "firefox" and not config.remote_url
    profile = tempfile.mkdtemp(prefix="harvest-browser-") if local_chromium else None
    driver = None
    reaper = BrowserReaper()
    try:
        if not config.remote_url:
            reaper.start_watcher()
        try:
            driver = start_driver(config, profile, reaper)
        except WebDriverException as exc:
            raise BrowserError(f"could not start {config.browser}: {first_line(exc)}") from None
        driver.set_page_load_timeout(config.page_timeout)
        driver.set_script_timeout(config.page_timeout)
        yield driver
    finally:
        if driver is not None:
            try:
                driver.quit()
            except WebDriverException as exc:
                log.debug("browser quit failed (already gone?): %s", first_line(exc))
        reaper.close()
        if profile:
            remove_profile(profile)


def remove_profile(profile: str) -> None:
    """Delete the temporary profile; a second pass catches files a closing helper just wrote."""
    for _ in range(2):
        shutil.rmtree(profile, ignore_errors=True)
        if not os.path.exists(profile):
            return
    log.warning("could not remove the browser profile %s", profile)


def start_driver(config: BrowserConfig, profile: str | None, reaper: BrowserReaper) -> Any:
    from selenium import webdriver

    if config.browser == "firefox":
        options = webdriver.FirefoxOptions()
        if config.headless:
            options.add_argument("-headless")
        if not config.load_images:
            options.set_preference("permissions.default.image", 2)
        if config.remote_url:
            return webdriver.Remote(command_executor=config.remote_url, options=options)
        options.binary_location = resolve_binary(config)
        service = reaped_service(webdriver.FirefoxService, reaper, executable_path=resolve_driver(config))
        return webdriver.Firefox(service=service, options=options)
    options = webdriver.ChromeOptions()
    for arg in CHROMIUM_ARGS + ((f"--user-data-dir={profile}",) if profile else ()):
        options.add_argument(arg)
    if config.headless:
        options.add_argument("--headless=new")
    if not config.load_images:
        options.add_argument("--blink-settings=imagesEnabled=false")
    if config.remote_url:
        return webdriver.Remote(command_executor=config.remote_url, options=options)
    options.binary_location = resolve_binary(config)
    service = reaped_service(webdriver.ChromeService, reaper, executable_path=resolve_driver(config),
                             env=private_tmp_env(profile))
    return webdriver.Chrome(service=service, options=options)


def private_tmp_env(profile: str | None) -> dict[str, str] | None:
    """Point the browser's TMPDIR inside its profile, so the shared-memory files Chromium writes
    to /tmp (with --disable-dev-shm-usage) go when the profile is removed, even after a kill."""
    if not profile:
        return None
    tmp = os.path.join(profile, "tmp")
    os.makedirs(tmp, exist_ok=True)
    return {**os.environ, "TMPDIR": tmp}


def first_line(exc: BaseException) -> str:
    text = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


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
