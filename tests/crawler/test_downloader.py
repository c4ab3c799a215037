"""The downloader against a local server that misbehaves on purpose: every outcome is a row."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image

from crawler.proposal import UrlProposal
from crawler.crawl import queue_proposals
from crawler.downloader import Downloader
from crawler.http import HttpPolicy, check_url_allowed, FetchRefused, retry_after_seconds
from tests.support.fault_server import FaultServer
from workspace.layout import init_workspace

FAST = HttpPolicy(connect_timeout=2, read_timeout=2, deadline=4, retries=2, backoff=0.05,
                  allow_private=True, max_bytes=2_000_000)


def jpeg_bytes(color=(200, 40, 40), size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    image.putpixel((3, 3), (0, 0, 0))
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def server():
    images = {f"{i}.jpg": jpeg_bytes((40 * i % 256, 100, 200 - 10 * i), (64 + i, 48)) for i in range(12)}
    with FaultServer(images=images) as srv:
        yield srv


def download(tmp_path: Path, urls: list[str], policy: HttpPolicy = FAST) -> dict[str, dict]:
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    with ws.catalog() as catalog:
        queue_proposals(catalog, "a", [UrlProposal(url=u, engine="urls") for u in urls], True)
        with Downloader(ws, catalog, policy, workers=4) as downloader:
            downloader.download(downloader.pending())
        rows = {r["url"]: dict(r) for r in catalog.all("SELECT * FROM candidates")}
    partial = [p for p in ws.tmp_dir.iterdir() if p.name != "resized"]  # resized/: outputs cached for curate
    assert partial == [], "no partial file may be left behind"
    return rows


def test_every_misbehaviour_ends_in_a_recorded_reason(tmp_path: Path, server: FaultServer) -> None:
    routes = {
        "/ok/0.jpg": ("stored", None),
        "/flaky/1.jpg?fail=1": ("stored", None),
        "/ratelimit/2.jpg?after=1": ("stored", None),
        "/status/404": ("failed", "http_404"),
        "/status/500": ("failed", "http_500"),
        "/hang/3.jpg": ("failed", "timeout"),
        "/drip/4.jpg": ("failed", "timeout"),
        "/reset/5.jpg": ("failed", "connection_error"),
        "/loop/0": ("failed", "redirect_loop"),
        "/huge": ("failed", "too_large"),
        "/liar/6.jpg": ("failed", None),
        "/wrongtype/7.jpg": ("stored", None),       # sniffed by content, not the header
        "/html.jpg": ("failed", "not_an_image"),
        "/truncated/8.jpg": ("failed", "truncated"),
        "/noai/9.jpg": ("skipped", "robots_noai"),
    }
    started = time.monotonic()
    rows = download(tmp_path, [server.url(p) for p in routes])
    elapsed = time.monotonic() - started
    for path, (status, reason) in routes.items():
        row = rows[server.url(path)]
        assert row["status"] == status, (path, row["status"], row["reason"])
        if reason:
            assert row["reason"] == reason, (path, row["reason"])
    assert rows[server.url("/liar/6.jpg")]["reason"] in ("truncated", "connection_error")
    # retries really happened, and bounded waits kept the whole batch short
    assert server.hits["/flaky/1.jpg"] == 2 and server.hits["/ratelimit/2.jpg"] == 2
    assert elapsed < 40


def test_stored_image_is_content_addressed_and_never_fetched_twice(tmp_path: Path, server: FaultServer) -> None:
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    url = server.url("/ok/0.jpg")
    with ws.catalog() as catalog:
        for _ in range(2):
            queue_proposals(catalog, "a", [UrlProposal(url=url, engine="urls")], True)
            with Downloader(ws, catalog, FAST) as downloader:
                downloader.download(downloader.pending())
        image = catalog.one("SELECT * FROM images")
    assert server.hits["/ok/0.jpg"] == 1
    assert image["source"] == url and image["label_source"] == "query"
    assert image["path"] == f"raw/{image['sha256'][:2]}/{image['sha256']}.jpg"
    assert "0.jpg" not in image["path"]


def test_a_url_already_stored_or_twice_in_one_batch_is_fetched_once(tmp_path: Path, server: FaultServer) -> None:
    ws = init_workspace(tmp_path / "ws", ["a", "b"]).workspace
    first, twice = server.url("/ok/0.jpg"), server.url("/slow/1.jpg?ms=100")
    with ws.catalog() as catalog:
        queue_proposals(catalog, "a", [UrlProposal(url=first, engine="urls")], True)
        with Downloader(ws, catalog, FAST) as downloader:
            downloader.download(downloader.pending())
        # next batch: `first` again (already an image) and `twice` under both classes
        queue_proposals(catalog, "b", [UrlProposal(url=u, engine="urls") for u in (first, twice)], True)
        queue_proposals(catalog, "a", [UrlProposal(url=twice, engine="urls")], True)
        with Downloader(ws, catalog, FAST, workers=4) as downloader:
            assert len(downloader.pending()) == 3
            downloader.download(downloader.pending())
        images = {r["source"]: r["id"] for r in catalog.all("SELECT source, id FROM images")}
        fates = catalog.all("SELECT url, class, status, reason, image_id FROM candidates ORDER BY id")
    assert server.hits["/ok/0.jpg"] == 1
    again = [f for f in fates if f["url"] == first and f["class"] == "b"]
    assert [(f["status"], f["reason"], f["image_id"]) for f in again] == [("duplicate", "same_url", images[first])]
    both = [f for f in fates if f["url"] == twice]
    assert sorted(f["status"] for f in both) == ["duplicate", "stored"]
    assert {f["image_id"] for f in both} == {images[twice]}  # the copy points at the one image, whoever won


def test_same_bytes_from_two_urls_is_an_exact_duplicate(tmp_path: Path, server: FaultServer) -> None:
    rows = download(tmp_path, [server.url("/ok/0.jpg"), server.url("/slow/0.jpg?ms=50")])
    statuses = sorted(r["status"] for r in rows.values())
    assert statuses == ["duplicate", "stored"]


def test_private_addresses_refused_by_default_including_via_redirect(tmp_path: Path, server: FaultServer) -> None:
    strict = HttpPolicy(connect_timeout=2, read_timeout=2, deadline=4, retries=0)
    rows = download(tmp_path, [server.url("/ok/0.jpg")], strict)
    assert rows[server.url("/ok/0.jpg")]["reason"] == "private_address"
    assert server.hits["/ok/0.jpg"] == 0
    # allowed to reach the local server, but the redirect to the metadata address is refused
    with pytest.raises(FetchRefused):
        check_url_allowed("http://169.254.169.254/latest/meta-data", strict)


def test_dns_names_resolving_to_loopback_are_refused() -> None:
    with pytest.raises(FetchRefused, match="private_address"):
        check_url_allowed("http://localhost:9/x.jpg", HttpPolicy())


def test_non_http_urls_are_refused() -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/a.jpg", "javascript:alert(1)"):
        with pytest.raises(FetchRefused):
            check_url_allowed(url, HttpPolicy(allow_private=True))


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_redirect_to_private_address_is_refused_on_the_hop(tmp_path: Path, server: FaultServer) -> None:
    """The guard runs on every hop: a public-looking first URL cannot bounce us inside."""
    policy = HttpPolicy(connect_timeout=2, read_timeout=2, deadline=4, retries=0)
    import crawler.http as http

    allowed_once = {"n": 0}
    original = http.check_url_allowed

    def first_hop_public(url: str, pol: HttpPolicy) -> None:
        if allowed_once["n"] == 0:  # pretend the first URL resolved publicly
            allowed_once["n"] += 1
            return None
        return original(url, pol)

    http.check_url_allowed = first_hop_public
    try:
        rows = download(tmp_path, [server.url("/redirect?to=/ok/0.jpg")], policy)
    finally:
        http.check_url_allowed = original
    assert rows[server.url("/redirect?to=/ok/0.jpg")]["reason"] == "private_address"
    assert server.hits["/ok/0.jpg"] == 0
