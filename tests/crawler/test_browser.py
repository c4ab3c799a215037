"""Every engine crawled through real headless Chromium against the replica site, pages written
independently in the engines' shapes, driver resolution errors, and clean browser shutdown."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from crawler import browser
from crawler.browser import BrowserConfig, open_browser, resolve_binary, resolve_driver
from crawler.scan import search_candidates
from crawler.engines import ENGINES
from crawler.errors import BrowserError, CrawlerError

pytestmark = pytest.mark.browser


def engine_base(site_url: str, engine: str) -> str:
    return site_url + "/gallery?q={query}" if engine == "page" else site_url


@pytest.mark.parametrize("engine", ["bing", "duckduckgo", "naver", "google", "page"])
def test_every_engine_collects_full_resolution_urls_beyond_the_first_page(engine, browser_driver, replica_site):
    truth = replica_site.truth()
    found = list(search_candidates(browser_driver, ENGINES[engine], "daisy photo",
                                   base_url=engine_base(replica_site.base_url, engine), limit=25))
    full = [c for c in found if not c.is_thumbnail]
    assert len(full) == 25 > replica_site.config.per_page
    assert len({c.url for c in found}) == len(found)
    for proposal in found:
        assert truth[proposal.url]["class"] == "daisy"
        assert proposal.is_thumbnail == (truth[proposal.url]["kind"] == "thumbnail")
        assert proposal.engine == engine and proposal.query == "daisy photo"


@pytest.mark.parametrize("engine", ["bing", "duckduckgo"])
def test_a_deep_crawl_collects_every_result_of_the_class(engine, browser_driver, replica_site):
    truth = replica_site.truth()
    expected = {url for url, info in truth.items() if info["class"] == "wild_tulips"}
    found = list(search_candidates(browser_driver, ENGINES[engine], "Wild Tulips", base_url=replica_site.base_url,
                                   limit=1000, settle_timeout=0.5))
    assert {c.url for c in found} == expected
    assert {c.url for c in found if c.is_thumbnail} == {u for u in expected if truth[u]["kind"] == "thumbnail"}


def test_skip_continues_deeper(browser_driver, replica_site):
    base = replica_site.base_url
    first = list(search_candidates(browser_driver, ENGINES["bing"], "roses", base_url=base, limit=5))
    later = list(search_candidates(browser_driver, ENGINES["bing"], "roses", base_url=base, limit=5,
                                   skip=len(first)))
    assert not {c.url for c in first} & {c.url for c in later} and len(later) >= 5


def test_zero_full_resolution_results_log_a_clear_warning(browser_driver, replica_site, caplog):
    with caplog.at_level(logging.WARNING, logger="crawler.scan"):
        found = list(search_candidates(browser_driver, ENGINES["google"], "no such class",
                                       base_url=replica_site.base_url, limit=10, settle_timeout=0.3))
    assert found == []
    assert "google: no full-resolution image URLs for 'no such class'" in caplog.text
    assert "try --engine bing" in caplog.text


# --- pages written from the engines' documented structures, not from the replica's code ------
TOTAL = 60


def user_bing(path: str, params: dict[str, str]) -> tuple[str, str]:
    def block(first: int, count: int) -> str:
        return "".join(
            f"<div class='imgpt'><a class='iusc' href='#' m='{{\"murl\":\"/full/{i}.jpg\",\"turl\":\"/th?id={i}\","
            f"\"purl\":\"/p/{i}\",\"t\":\"it&#39;s {i}\"}}'><img src='/th?id={i}'></a></div>"
            for i in range(first, min(TOTAL + 1, first + count)))
    if path == "/images/async":
        return "text/html", block(int(params["first"]), int(params.get("count", 35)))
    return "text/html", f"<html><body><main><section>{block(1, 12)}</section></main></body></html>"


def user_duckduckgo(path: str, params: dict[str, str]) -> tuple[str, str]:
    if path == "/i.js":
        if params.get("vqd") != "4-99887766":
            return "text/plain", "forbidden"
        start = int(params.get("s", 0))
        results = [{"image": f"http://{{host}}/full/{i}.png", "thumbnail": f"/th?id={i}", "title": str(i)}
                   for i in range(start, min(50, start + 20))]
        data = {"results": results, **({"next": f"i.js?q=cats&o=json&s={start + 20}"} if start + 20 < 50 else {})}
        return "application/json", json.dumps(data)
    return "text/html", ("<html><body><form><input type='hidden' name='vqd' value='4-99887766'>"
                         "<input name='q' value='cats'></form><div id='tiles'></div></body></html>")


@pytest.fixture(scope="module")
def user_site() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            kind, body = (user_duckduckgo if parts.path in ("/", "/i.js") else user_bing)(parts.path, params)
            if body == "forbidden":
                self.send_response(403)
            else:
                self.send_response(200)
            payload = body.replace("{host}", self.headers["Host"]).encode()
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_bing_pages_through_the_async_endpoint_without_scroll_javascript(browser_driver, user_site):
    found = list(search_candidates(browser_driver, ENGINES["bing"], "cats", base_url=user_site, limit=500,
                                   settle_timeout=0.3))
    assert [c.url for c in found] == [f"{user_site}/full/{i}.jpg" for i in range(1, TOTAL + 1)]
    assert found[0].title == "it's 1" and found[0].page_url == f"{user_site}/p/1"


def test_duckduckgo_reads_a_hidden_input_token_and_follows_next(browser_driver, user_site):
    found = list(search_candidates(browser_driver, ENGINES["duckduckgo"], "cats", base_url=user_site, limit=500,
                                   settle_timeout=0.3))
    host = urlsplit(user_site).netloc
    assert [c.url for c in found] == [f"http://{host}/full/{i}.png" for i in range(50)]
    assert not any(c.is_thumbnail for c in found)


# --- driver resolution and shutdown ----------------------------------------------------------
def test_an_explicit_driver_path_that_does_not_exist_is_named(monkeypatch):
    monkeypatch.setenv("HARVEST_DRIVER", "/missing/chromedriver")
    with pytest.raises(BrowserError, match="HARVEST_DRIVER points at /missing/chromedriver"):
        resolve_driver(BrowserConfig())


def test_no_driver_anywhere_lists_what_was_tried(monkeypatch, tmp_path):
    monkeypatch.delenv("HARVEST_DRIVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HARVEST_OFFLINE", "1")
    missing = (str(tmp_path / "nope"),)
    monkeypatch.setattr(browser, "SYSTEM_DRIVERS", {**browser.SYSTEM_DRIVERS, "chromium": missing})
    with pytest.raises(BrowserError) as error:
        resolve_driver(BrowserConfig())
    message = str(error.value)
    assert "no chromedriver found" in message and str(tmp_path / "nope") in message
    assert "chromedriver on PATH" in message and "webdriver-manager (disabled)" in message
    assert "\n" not in message


def test_no_browser_binary_lists_what_was_tried(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_BROWSER_BINARY", str(tmp_path / "chromium"))
    with pytest.raises(BrowserError, match="HARVEST_BROWSER_BINARY points at .*chromium, which does not exist"):
        resolve_binary(BrowserConfig())
    monkeypatch.delenv("HARVEST_BROWSER_BINARY")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserError, match="no chromium browser found .tried: chromium, chromium-browser"):
        resolve_binary(BrowserConfig())


def test_bad_browser_settings_are_refused():
    with pytest.raises(CrawlerError, match="unknown browser 'opera'"):
        BrowserConfig(browser="opera")
    with pytest.raises(CrawlerError, match="page_timeout must be > 0"):
        BrowserConfig(page_timeout=0)


def processes_using(profile: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and profile.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def gone(profile: str, timeout: float = 10.0) -> bool:
    """True once no process uses the profile (Chromium's helpers may take a moment to exit)."""
    deadline, pause = time.monotonic() + timeout, threading.Event()
    while processes_using(profile):
        if time.monotonic() > deadline:
            return False
        pause.wait(0.05)
    return True


def test_a_dying_browser_raises_and_is_still_cleaned_up(browser_driver, replica_site):
    """Kill Chromium mid-session: a one-line BrowserError, then no process or profile left."""
    with pytest.raises(BrowserError, match="the browser failed while crawling bing"):
        with open_browser(BrowserConfig()) as driver:
            profile = driver.capabilities["chrome"]["userDataDir"]
            driver_process = driver.service.process
            assert Path(profile).is_dir() and processes_using(profile)
            for pid in processes_using(profile):
                os.kill(pid, signal.SIGKILL)
            list(search_candidates(driver, ENGINES["bing"], "daisy", base_url=replica_site.base_url, limit=5))
    assert driver_process.wait(timeout=10) is not None
    assert gone(profile) and not Path(profile).exists()


def test_an_unreachable_or_malformed_base_url_is_one_clear_error(browser_driver):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CrawlerError, match=f"bing: cannot load http://127.0.0.1:{port}/images/search.*site up"):
        list(search_candidates(browser_driver, ENGINES["bing"], "daisy", base_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(CrawlerError, match="--base-url must be an http.s. URL .* got '127.0.0.1:8000'"):
        list(search_candidates(browser_driver, ENGINES["bing"], "daisy", base_url="127.0.0.1:8000"))
    with pytest.raises(CrawlerError, match="the page engine needs --base-url"):
        list(search_candidates(browser_driver, ENGINES["page"], "daisy"))


def test_webdriver_manager_is_skipped_quickly_when_offline(monkeypatch, tmp_path):
    monkeypatch.delenv("HARVEST_DRIVER", raising=False)
    monkeypatch.delenv("HARVEST_OFFLINE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(browser, "SYSTEM_DRIVERS", {**browser.SYSTEM_DRIVERS, "chromium": ()})
    monkeypatch.setattr(browser, "host_reachable", lambda host, **_: False)
    with pytest.raises(BrowserError, match=r"webdriver-manager \(offline: googlechromelabs\S+ unreachable\)"):
        resolve_driver(BrowserConfig())


def test_the_browser_is_quit_and_its_profile_removed_when_the_caller_fails(browser_driver):
    with pytest.raises(ValueError, match="caller bug"):
        with open_browser(BrowserConfig()) as driver:
            profile = driver.capabilities["chrome"]["userDataDir"]
            driver_process = driver.service.process
            assert processes_using(profile)
            raise ValueError("caller bug")
    assert driver_process.poll() is not None
    assert gone(profile) and not Path(profile).exists()
