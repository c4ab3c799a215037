"""`crawl --urls --cluster`: shards on 2 worker processes under the same HTTP policy as a local
crawl, content-addressed files, and each URL's fate recorded once by the driver."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from crawler.crawl import CrawlConfig, crawl
from crawler.http import HttpPolicy
from tests.support.fault_server import FaultServer
from workspace.layout import init_workspace

FAST = HttpPolicy(connect_timeout=2, read_timeout=1, deadline=2, retries=1, backoff=0.05,
                  allow_private=True, max_bytes=2_000_000)
ROUTES = {
    "/ok/0.jpg": ("stored", None), "/ok/1.jpg": ("stored", None), "/wrongtype/2.jpg": ("stored", None),
    "/status/404": ("failed", "http_404"), "/huge": ("failed", "too_large"),
    "/html.jpg": ("failed", "not_an_image"), "/truncated/3.jpg": ("failed", "truncated"),
    "/noai/4.jpg": ("skipped", "robots_noai"), "/hang/5.jpg": ("failed", "timeout"),
}


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60 + seed, 40), (30 * seed % 256, 90, 200 - 9 * seed)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server():
    images = {f"{i}.jpg": jpeg(i) for i in range(40)}
    with FaultServer(images=images) as srv:
        yield srv


def url_list(server: FaultServer, folder: Path) -> Path:
    """The named routes, 30 more good images, and one image twice (two URLs, same bytes)."""
    urls = [server.url(p) for p in ROUTES] + [server.url(f"/ok/{i}.jpg") for i in range(6, 36)]
    urls += [server.url("/ok/36.jpg"), server.url("/slow/36.jpg?ms=1")]
    path = folder / "urls.txt"
    path.write_text("\n".join(urls) + "\n", encoding="utf-8")
    return path


def fates(root: Path, urls: Path, http: HttpPolicy, cluster: str | None) -> tuple[dict, list]:
    ws = init_workspace(root, ["a"]).workspace
    crawl(ws, CrawlConfig(urls_file=urls, url_class="a", http=http, cluster=cluster))
    with ws.catalog() as catalog:
        candidates = {r["url"]: dict(r) for r in catalog.all("SELECT * FROM candidates")}
        images = [tuple(r) for r in catalog.all("SELECT sha256, path, status, reason FROM images ORDER BY sha256")]
    partial = [p for p in ws.tmp_dir.iterdir() if p.name != "resized"]  # resized/: outputs cached for curate
    assert partial == [], "no partial file may be left behind"
    for sha, path, status, _ in images:
        if path:
            assert path == f"raw/{sha[:2]}/{sha}.jpg" and (ws.root / path).is_file()
    return candidates, images


def test_cluster_crawl_records_every_fate_once_like_a_local_crawl(tmp_path: Path, server: FaultServer,
                                                                  local_cluster: str) -> None:
    urls = url_list(server, tmp_path)
    local, local_images = fates(tmp_path / "local", urls, FAST, None)
    remote, remote_images = fates(tmp_path / "cluster", urls, FAST, local_cluster)
    assert remote_images == local_images
    assert remote.keys() == local.keys()
    for path, (status, reason) in ROUTES.items():
        row = remote[server.url(path)]
        assert (row["status"], row["reason"]) == (status, reason), path
    twin_urls = (server.url("/ok/36.jpg"), server.url("/slow/36.jpg?ms=1"))
    for fates_of in (remote, local):  # which twin is recorded first is a race in either mode
        assert sorted(fates_of[url]["status"] for url in twin_urls) == ["duplicate", "stored"]
    for url, row in remote.items():
        assert row["attempts"] == 1 and row["status"] != "pending", url
        if url not in twin_urls:
            assert (row["status"], row["reason"]) == (local[url]["status"], local[url]["reason"]), url


def test_the_private_address_guard_holds_on_the_workers(tmp_path: Path, server: FaultServer,
                                                        local_cluster: str) -> None:
    urls = url_list(server, tmp_path)
    guarded = HttpPolicy(connect_timeout=2, read_timeout=1, deadline=2, retries=0)   # allow_private=False
    hits_before = sum(server.hits.values())
    remote, images = fates(tmp_path / "cluster", urls, guarded, local_cluster)
    assert images == []
    assert {(r["status"], r["reason"]) for r in remote.values()} == {("skipped", "private_address")}
    assert sum(server.hits.values()) == hits_before   # refused before connecting


def test_cluster_without_a_url_list_is_refused_in_one_line(tmp_path: Path, run_cli) -> None:
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    result = run_cli("crawl", ws.root, "--engine", "bing", "--cluster", "local[1]")
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
    assert "--cluster downloads URL lists (--urls FILE)" in result.stderr
