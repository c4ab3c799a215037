"""The crawl command end to end: URL lists, engines through real Chromium, SIGKILL and resume."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.proposal import UrlProposal
from crawler.crawl import CrawlConfig, crawl, read_url_list
from crawler.errors import CrawlerError
from crawler.http import HttpPolicy
from tests.conftest import REPO, chromium_available
from tests.crawler.test_downloader import jpeg_bytes
from tests.support.fault_server import FaultServer
from workspace.layout import init_workspace


def images(n: int) -> dict[str, bytes]:
    return {f"{i}.jpg": jpeg_bytes(((i * 37) % 256, (i * 91) % 256, (i * 53) % 256), (40 + i % 7, 30 + i % 5))
            for i in range(n)}


def test_url_list_formats(tmp_path: Path) -> None:
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("url,class\nhttp://x/1.jpg,a\nhttp://x/2.jpg,b\n")
    assert read_url_list(csv_file, None) == [("http://x/1.jpg", "a"), ("http://x/2.jpg", "b")]
    tsv = tmp_path / "list.tsv"
    tsv.write_text("class\turl\na\thttp://x/1.jpg\n")
    assert read_url_list(tsv, None) == [("http://x/1.jpg", "a")]
    plain = tmp_path / "list.txt"
    plain.write_text("# my urls\nhttp://x/1.jpg\n\nhttp://x/2.jpg\n")
    assert read_url_list(plain, "a") == [("http://x/1.jpg", "a"), ("http://x/2.jpg", "a")]
    with pytest.raises(CrawlerError, match="--class"):
        read_url_list(plain, None)


def test_crawl_urls_through_the_cli(run_cli, tmp_path: Path) -> None:
    with FaultServer(images=images(6)) as server:
        url_file = tmp_path / "urls.csv"
        url_file.write_text("url,class\n" + "".join(
            f"{server.url(f'/ok/{i}.jpg')},{'a' if i % 2 else 'b'}\n" for i in range(6))
            + f"{server.url('/status/404')},a\n")
        ws = tmp_path / "ws"
        assert run_cli("init", ws, "--classes", "a,b").returncode == 0
        result = run_cli("crawl", ws, "--urls", url_file, "--allow-private")
        assert result.returncode == 0, result.stderr
        assert "http_404 1" in result.stdout
        again = run_cli("crawl", ws, "--urls", url_file, "--allow-private")
        assert again.returncode == 0
        assert all(server.hits[f"/ok/{i}.jpg"] == 1 for i in range(6)), server.hits
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM images WHERE status='stored'").fetchone()[0] == 6
        assert conn.execute("SELECT COUNT(*) FROM images WHERE class='a'").fetchone()[0] == 3


def test_crawl_refuses_local_urls_without_the_flag(run_cli, tmp_path: Path) -> None:
    with FaultServer(images=images(1)) as server:
        url_file = tmp_path / "urls.txt"
        url_file.write_text(server.url("/ok/0.jpg") + "\n")
        ws = tmp_path / "ws"
        run_cli("init", ws, "--classes", "a")
        result = run_cli("crawl", ws, "--urls", url_file, "--class", "a")
        assert result.returncode == 0
        assert "private_address 1" in result.stdout
        assert server.hits["/ok/0.jpg"] == 0


def test_per_class_stops_at_n_valid_images_and_reports_shortfall(tmp_path: Path) -> None:
    """With a fake candidate source: N valid images per class, failures replaced by later URLs."""
    with FaultServer(images=images(12)) as server:
        urls = [server.url("/status/404"), server.url("/html.jpg")] + [server.url(f"/ok/{i}.jpg") for i in range(12)]

        def source(engine: str, query: str, base_url: str | None, limit: int):
            return [UrlProposal(url=u, engine=engine, query=query) for u in urls[:limit]]

        ws = init_workspace(tmp_path / "ws", ["a", "b"]).workspace
        config = CrawlConfig(engine="bing", per_class=4, http=HttpPolicy(allow_private=True, retries=0))
        summary = crawl(ws, config, source=source)
        by_class = {c.name: c for c in summary.classes}
        assert by_class["a"].after == 4 and by_class["a"].shortfall == 0
        # class b sees the same URLs: the images are already stored under a, so b runs dry
        assert by_class["b"].after < 4 and summary.shortfall > 0
        with ws.catalog() as catalog:
            fetched_ok = sum(server.hits[f"/ok/{i}.jpg"] for i in range(12))
            assert fetched_ok <= 12
            assert catalog.scalar("SELECT COUNT(*) FROM candidates WHERE reason = 'http_404'") >= 1


@pytest.mark.slow
def test_sigkill_mid_crawl_then_resume_loses_nothing_and_refetches_nothing(tmp_path: Path) -> None:
    count = 30
    with FaultServer(images=images(count)) as server:
        url_file = tmp_path / "urls.txt"
        url_file.write_text("".join(server.url(f"/slow/{i}.jpg?ms=150") + "\n" for i in range(count)))
        ws = tmp_path / "ws"
        init_workspace(ws, ["a"])
        argv = [sys.executable, str(REPO / "cli.py"), "crawl", str(ws), "--urls", str(url_file), "--class", "a",
                "--allow-private", "--workers", "2"]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        stored_before = 0
        while time.monotonic() < deadline:
            if (ws / "catalog.sqlite").exists():
                with sqlite3.connect(ws / "catalog.sqlite", timeout=30) as conn:
                    stored_before = conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
                if stored_before >= 8:
                    break
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        with sqlite3.connect(ws / "catalog.sqlite", timeout=30) as conn:
            stored_urls = {r[0] for r in conn.execute("SELECT source FROM images")}
        assert 0 < len(stored_urls) < count
        hits_at_kill = dict(server.hits)
        resumed = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        for url in stored_urls:  # what was stored before the kill is never fetched again
            path = url.split(server.base_url, 1)[1].split("?")[0]
            assert server.hits[path] == hits_at_kill[path], path
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM images WHERE status='stored'").fetchone()[0] == count
        assert conn.execute("SELECT COUNT(DISTINCT source) FROM images").fetchone()[0] == count
        # a fate is written with its image row, in one transaction: none lost, none turned into same_url
        assert conn.execute("SELECT COUNT(*) FROM candidates WHERE status='stored'").fetchone()[0] == count
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        paths = {r[0] for r in conn.execute("SELECT path FROM images")}
    on_disk = {p.relative_to(ws).as_posix() for p in (ws / "raw").rglob("*.jpg")}
    assert on_disk == paths, "no orphan files, no missing files"
    assert [p for p in (ws / "tmp").glob("*") if p.name != "resized"] == []  # resized/: outputs cached for curate


@pytest.mark.browser
@pytest.mark.skipif(not chromium_available(), reason="needs chromium and chromedriver")
def test_crawl_bing_replica_through_real_chromium(run_cli, tmp_path: Path) -> None:
    from replica import ReplicaConfig, ReplicaSite

    folder = tmp_path / "photos"
    for cls in ("cats", "dogs"):
        for i in range(12):
            (folder / cls).mkdir(parents=True, exist_ok=True)
            (folder / cls / f"{i}.jpg").write_bytes(jpeg_bytes(((i * 20) % 256, 80 if cls == "cats" else 160, 30),
                                                               (50 + i, 40)))
    with ReplicaSite(ReplicaConfig(folder=folder, per_page=5, broken_share=0.1, seed=3)) as site:
        ws = tmp_path / "ws"
        assert run_cli("init", ws, "--classes", "cats,dogs").returncode == 0
        args = ("crawl", ws, "--engine", "bing", "--per-class", "5", "--base-url", site.base_url, "--allow-private")
        first = run_cli(*args)
        assert first.returncode == 0, first.stderr
        with sqlite3.connect(ws / "catalog.sqlite") as conn:
            counts = dict(conn.execute(
                "SELECT class, COUNT(*) FROM images WHERE status='stored' GROUP BY class").fetchall())
            assert counts == {"cats": 5, "dogs": 5}
            engines = {r[0] for r in conn.execute("SELECT DISTINCT engine FROM images")}
            assert engines == {"bing"}
            candidates_before = conn.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]
        second = run_cli(*args)
        assert second.returncode == 0
        with sqlite3.connect(ws / "catalog.sqlite") as conn:
            assert conn.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 10
            assert conn.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == candidates_before
        status = run_cli("status", ws)
        assert "bing" in status.stdout and "100%" in status.stdout
