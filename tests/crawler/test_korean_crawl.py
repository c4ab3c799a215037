"""`init --classes 데이지,장미 --engines naver` just works: the class name is the query, searched
through real headless Chromium on the replica's Naver pages, and every stored image is on-class."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.crawler.conftest import chromium_available, make_replica_folder

pytestmark = pytest.mark.browser


def test_korean_classes_crawl_naver_with_their_names_as_queries(run_cli, tmp_path: Path, make_replica) -> None:
    if not chromium_available():
        pytest.skip("Chromium and chromedriver are not installed (see crawler/ensure_browser.sh)")
    site = make_replica(folder=make_replica_folder(tmp_path / "photos", {"데이지": 14, "장미": 14}, size=64),
                        per_page=10)
    ws = tmp_path / "ws"
    assert run_cli("init", ws, "--classes", "데이지,장미", "--engines", "naver").returncode == 0
    crawl = run_cli("crawl", ws, "--engine", "naver", "--base-url", site.base_url, "--per-class", "6",
                    "--allow-private", "--workers", "2")
    assert crawl.returncode == 0, crawl.stderr
    status = json.loads(run_cli("status", ws, "--json").stdout)
    assert {c["name"]: c["stored"] for c in status["classes"]} == {"데이지": 6, "장미": 6}
    truth = site.truth()
    export = run_cli("export", ws, "--out", tmp_path / "manifest.csv")
    assert export.returncode == 0, export.stderr
    manifest = pd.read_csv(tmp_path / "manifest.csv")
    assert set(manifest["query"]) == {"데이지", "장미"} and set(manifest["engine"]) == {"naver"}
    for url, cls in zip(manifest["source"], manifest["class"]):
        assert truth[url]["class"] == cls
