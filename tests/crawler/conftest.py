"""Crawler fixtures: one session-wide headless Chromium and replica sites over tiny real JPEGs.

Other crawler tests can use `browser_driver` (session Chromium), `replica_folder` (3 classes of
tiny JPEGs: daisy 32, roses 24, wild_tulips 16), `replica_site` (per_page 10, 10% thumbnail-only)
and `make_replica(**knobs)` for a site with other knobs.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from replica import ReplicaConfig, ReplicaSite

REPLICA_CLASSES = {"daisy": 32, "roses": 24, "wild_tulips": 16}


def make_replica_folder(root: Path, classes: dict[str, int] | None = None, size: int = 32) -> Path:
    """FOLDER/<class>/<n>.jpg: tiny, distinct real JPEGs (random blocks, seeded per file)."""
    for class_index, (name, count) in enumerate((classes or REPLICA_CLASSES).items()):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rng = random.Random(f"{name}-{i}")
            image = Image.new("RGB", (size + i % 5, size), (60 * class_index % 256, 90, 30))
            for _ in range(6):
                x, y = rng.randrange(size), rng.randrange(size)
                color = tuple(rng.randrange(256) for _ in range(3))
                image.paste(color, (x, y, min(size, x + 10), min(size, y + 10)))
            image.save(folder / f"{i:03d}.jpg", "JPEG", quality=90)
    return root


@pytest.fixture(scope="session")
def replica_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_replica_folder(tmp_path_factory.mktemp("replica-images"))


@pytest.fixture(scope="session")
def replica_site(replica_folder: Path) -> Iterator[ReplicaSite]:
    """10 results per page (so 25 results need paging) and 10% thumbnail-only results."""
    config = ReplicaConfig(folder=replica_folder, per_page=10, thumbnail_only_share=0.1, seed=7)
    with ReplicaSite(config) as site:
        yield site


@pytest.fixture
def make_replica(replica_folder: Path) -> Iterator[object]:
    """Factory: make_replica(offclass_share=0.2, per_page=5, folder=...) -> a started ReplicaSite."""
    sites: list[ReplicaSite] = []

    def start(**knobs: object) -> ReplicaSite:
        knobs.setdefault("folder", replica_folder)
        site = ReplicaSite(ReplicaConfig(**knobs)).start()  # type: ignore[arg-type]
        sites.append(site)
        return site

    yield start
    for site in sites:
        site.stop()


def chromium_available() -> bool:
    return bool(shutil.which("chromium") or shutil.which("chromium-browser")
                or shutil.which("google-chrome")) and bool(shutil.which("chromedriver"))


@pytest.fixture(scope="session")
def browser_driver() -> Iterator[object]:
    """One headless Chromium for every browser test of the session."""
    if not chromium_available():
        pytest.skip("Chromium and chromedriver are not installed (see crawler/ensure_browser.sh)")
    from crawler.browser import BrowserConfig, open_browser

    with open_browser(BrowserConfig()) as driver:
        yield driver
