"""Driver set-up: finding a browser and its driver, starting it, and always cleaning it up.

Driver resolution never hangs offline: an explicit path (flag or HARVEST_DRIVER), the system
driver, then webdriver-manager only if its host answers within 1.5 s, else a BrowserError
listing what was tried. The browser is always quit and its temporary profile removed, even on
errors, and killed with its owner (`crawler/reaper.py`). Scanning result pages with the started
driver is `crawler/scan.py`'s job; this module does not know about engines.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

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
