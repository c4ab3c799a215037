"""A rerun retries what the current settings now allow, and only that: `skipped:
private_address` is fetched once --allow-private is given, a too_large file once the cap is
raised; an http_404 stays failed unless --retry-failed; the summary says how many were retried."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crawler.http import HttpPolicy
from crawler.requeue import policy_record, would_now_allow
from tests.crawler.test_downloader import jpeg_bytes
from tests.support.fault_server import FaultServer
from workspace.layout import init_workspace

DEFAULT = policy_record(HttpPolicy())


@pytest.mark.parametrize("reason,before,now,thumbs,expected", [
    ("private_address", HttpPolicy(), HttpPolicy(allow_private=True), False, True),
    ("private_address", HttpPolicy(), HttpPolicy(), False, False),
    ("too_large", HttpPolicy(max_bytes=2000), HttpPolicy(), False, True),
    ("too_large", HttpPolicy(), HttpPolicy(), False, False),
    ("timeout", HttpPolicy(read_timeout=2), HttpPolicy(read_timeout=15), False, True),
    ("timeout", HttpPolicy(deadline=60), HttpPolicy(deadline=30), False, False),
    ("connection_error", HttpPolicy(retries=0), HttpPolicy(retries=3), False, True),
    ("connection_error", HttpPolicy(), HttpPolicy(), False, False),
    ("robots_noai", HttpPolicy(), HttpPolicy(respect_noai=False), False, True),
    ("robots_noai", HttpPolicy(), HttpPolicy(), False, False),
    ("thumbnail_only", HttpPolicy(), HttpPolicy(), True, True),
    ("http_404", HttpPolicy(), HttpPolicy(allow_private=True, max_bytes=10**9), True, False),
    ("bad_url", HttpPolicy(), HttpPolicy(allow_private=True), True, False),
    ("not_an_image", HttpPolicy(), HttpPolicy(allow_private=True), True, False),
    ("blocked_address", HttpPolicy(), HttpPolicy(allow_private=True), True, False),
])
def test_which_failures_the_current_settings_allow(reason, before, now, thumbs, expected) -> None:
    assert would_now_allow(reason, policy_record(before), now, thumbs) is expected


def test_rows_saved_without_settings_count_as_defaults() -> None:
    assert would_now_allow("private_address", None, HttpPolicy(allow_private=True), False)
    assert not would_now_allow("too_large", None, HttpPolicy(), False)
    assert would_now_allow("too_large", "not json", HttpPolicy(max_bytes=10**8), False)


def reasons(ws: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        return {url.rsplit("/", 2)[-2]: (status, reason)
                for url, status, reason in conn.execute("SELECT url, status, reason FROM candidates")}


def test_rerun_retries_after_a_policy_change_and_only_then(run_cli, tmp_path: Path) -> None:
    big = jpeg_bytes((10, 200, 90), (400, 300))
    assert len(big) > 2000
    with FaultServer(images={"0.jpg": jpeg_bytes(), "1.jpg": big}) as server:
        urls = tmp_path / "urls.txt"
        urls.write_text(f"{server.url('/ok/0.jpg')}\n{server.url('/file/1.jpg')}\n{server.url('/status/404')}\n")
        server.files["1.jpg"] = big
        ws = tmp_path / "ws"
        init_workspace(ws, ["a"])
        crawl = ("crawl", ws, "--urls", urls, "--class", "a")

        strict = run_cli(*crawl)
        assert strict.returncode == 0, strict.stderr
        assert set(reasons(ws).values()) == {("skipped", "private_address")}
        assert sum(server.hits.values()) == 0

        small_cap = run_cli(*crawl, "--allow-private", "--max-size-mb", "0.002")
        assert "retried 3 earlier failures the current settings allow (private_address 3)" in small_cap.stdout
        assert reasons(ws) == {"ok": ("stored", None), "file": ("failed", "too_large"),
                               "status": ("failed", "http_404")}

        same = run_cli(*crawl, "--allow-private", "--max-size-mb", "0.002")
        assert "retried" not in same.stdout
        assert server.hits["/status/404"] == 1 and server.hits["/file/1.jpg"] == 1

        larger = run_cli(*crawl, "--allow-private")
        assert "retried 1 earlier failures the current settings allow (too_large 1)" in larger.stdout
        assert reasons(ws)["file"] == ("stored", None)
        assert server.hits["/status/404"] == 1, "a 404 is permanent: not retried without --retry-failed"

        forced = run_cli(*crawl, "--allow-private", "--retry-failed")
        assert "retried 1 earlier failures" in forced.stdout and "http_404 1" in forced.stdout
        assert server.hits["/status/404"] == 2
        assert server.hits["/ok/0.jpg"] == 1, "a stored URL is never fetched again"
