"""The replica search site: knobs measured through its truth map, broken links, determinism,
query matching, opaque URLs, and `python cli.py replica` running on its own."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from crawler.engines import ENGINES
from crawler.errors import CrawlerError
from replica import ReplicaConfig, ReplicaSite
from tests.support.pipes import readline_within

REPO = Path(__file__).resolve().parents[2]


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@pytest.fixture(scope="module")
def noisy_site(replica_folder):
    config = ReplicaConfig(folder=replica_folder, per_page=20, offclass_share=0.2, duplicate_share=0.1,
                           reencoded_share=0.1, broken_share=0.1, thumbnail_only_share=0.05, seed=3)
    with ReplicaSite(config) as site:
        yield site


def test_each_class_lists_every_image_plus_the_configured_noise(noisy_site, replica_folder):
    truth = noisy_site.truth()
    for name in ("daisy", "roses", "wild_tulips"):
        results = noisy_site.results(name)
        kinds = Counter(item.kind for item in results)
        originals = {item.file.name for item in results if item.kind == "original"}
        assert originals == {p.name for p in (replica_folder / name).iterdir()}
        total = len(results)
        for item in results:
            if item.kind == "offclass":
                assert item.true_class != name and item.file.parent.name == item.true_class
        assert abs(kinds["offclass"] / total - 0.2) <= 1 / total + 1e-9
        for kind, share in (("duplicate", 0.1), ("reencoded", 0.1), ("broken", 0.1), ("thumbnail", 0.05)):
            assert abs(kinds[kind] / total - share) <= 1 / total + 1e-9
    assert all(info["file"].startswith(f"{info['class']}/") for info in truth.values() if info["file"])


def test_off_class_results_can_come_from_a_pool_no_query_serves(replica_folder, tmp_path):
    """With offclass_folder, off-class hits are distinct pictures, not copies of another class's
    results (which dedupe would turn into conflicts and so hide the noise)."""
    import shutil

    pool = tmp_path / "pool"
    shutil.copytree(replica_folder, pool)
    config = ReplicaConfig(folder=replica_folder, offclass_folder=pool, offclass_share=0.3, seed=5)
    with ReplicaSite(config) as site:
        truth = site.truth()
        for name in ("daisy", "roses"):
            off = [item for item in site.results(name) if item.kind == "offclass"]
            assert off and all(item.file.is_relative_to(pool) and item.true_class != name for item in off)
            served = [item for item in site.results(name) if item.kind == "original"]
            assert all(item.file.is_relative_to(replica_folder) for item in served)
    assert all(info["file"].startswith(f"{info['class']}/") for info in truth.values() if info["file"])


def test_off_class_share_measured_through_a_crawl_of_the_pages(noisy_site):
    """What a crawler sees: the share of collected URLs whose true class is another class."""
    truth = noisy_site.truth()
    text = fetch(f"{noisy_site.base_url}/gallery?q=daisy")[2].decode()
    found = ENGINES["page"].parse(text, f"{noisy_site.base_url}/gallery?q=daisy")
    labelled = [truth[c.url]["class"] for c in found if truth[c.url]["class"]]
    share = sum(label != "daisy" for label in labelled) / len(found)
    assert 0.15 <= share <= 0.25


def test_image_urls_serve_what_the_truth_map_says(noisy_site, replica_folder):
    truth = noisy_site.truth()
    seen_broken = set()
    for url, info in truth.items():
        status, kind, body = fetch(url)
        if info["kind"] == "broken":
            assert (status, kind.split(";")[0]) in {(404, "text/html"), (200, "text/html")}
            assert b"<html" in body
            seen_broken.add(status)
            continue
        assert status == 200 and kind.startswith("image/")
        source = (replica_folder / info["file"]).read_bytes()
        if info["kind"] in ("original", "duplicate", "offclass"):
            assert body == source
        elif info["kind"] == "reencoded":
            assert body != source
            with Image.open(io.BytesIO(body)) as copy, Image.open(replica_folder / info["file"]) as original:
                assert copy.width == original.width * 9 // 10
        else:  # thumbnail-only results are collected through their (downsized) thumbnail
            assert info["kind"] == "thumbnail" and "/th?id=" in url
    assert seen_broken == {200, 404}


def test_duplicates_share_bytes_with_an_original_under_another_url(noisy_site):
    truth = noisy_site.truth()
    digest = {url: hashlib.sha256(fetch(url)[2]).hexdigest()
              for url, info in truth.items() if info["kind"] in ("original", "duplicate")}
    originals = {digest[u] for u, info in truth.items() if info["kind"] == "original"}
    duplicates = [u for u, info in truth.items() if info["kind"] == "duplicate"]
    assert duplicates and all(digest[u] in originals for u in duplicates)


def test_thumbnails_are_downsized_jpegs(tmp_path):
    big = tmp_path / "big" / "daisy"
    big.mkdir(parents=True)
    Image.new("RGB", (640, 480), (200, 180, 20)).save(big / "a.jpg")
    with ReplicaSite(ReplicaConfig(folder=tmp_path / "big")) as site:
        item = site.results("daisy")[0]
        status, kind, body = fetch(site.base_url + item.thumb_path)
        assert status == 200 and kind == "image/jpeg"
        with Image.open(io.BytesIO(body)) as thumb:
            assert max(thumb.size) <= 160
        assert fetch(site.base_url + "/th?id=unknown")[0] == 404


def test_truth_is_served_as_json_and_urls_never_reveal_the_class(noisy_site):
    served = json.loads(fetch(f"{noisy_site.base_url}/__replica/truth.json")[2])
    assert served == noisy_site.truth()
    for url in served:
        assert not any(name in url for name in ("daisy", "roses", "tulip"))


def test_same_seed_same_site_other_seed_other_order(replica_folder):
    def listing(seed: int) -> list[tuple[str, str]]:
        site = ReplicaSite(ReplicaConfig(folder=replica_folder, offclass_share=0.3, seed=seed))
        return [(item.token, item.kind) for item in site.results("roses")]
    assert listing(5) == listing(5)
    assert listing(5) != listing(6)


@pytest.mark.parametrize("query, expected", [
    ("daisy", "daisy"), ("Daisy photo", "daisy"), ("wild tulips", "wild_tulips"),
    ("WILD-TULIPS pictures", "wild_tulips"), ("roses_", "roses"), ("rose", None), ("tulips", None),
    ("daisyroses", None),
])
def test_queries_map_to_the_class_they_name(replica_site, query, expected):
    assert replica_site.index.match_class(query) == expected


def test_an_unknown_query_gets_empty_result_pages(replica_site):
    base = replica_site.base_url
    bing_page = fetch(f"{base}/images/search?q=zebra&first=1")
    assert bing_page[0] == 200 and ENGINES["bing"].parse(bing_page[2].decode(), base) == []
    assert 'class="dgControl_list"' in bing_page[2].decode()
    vqd_page = fetch(f"{base}/?q=zebra&iax=images&ia=images")[2].decode()
    assert "vqd=" in vqd_page


def test_duckduckgo_json_needs_the_pages_vqd_token(replica_site):
    base = replica_site.base_url
    assert fetch(f"{base}/i.js?o=json&q=daisy&vqd=wrong&s=0")[0] == 403


def test_slow_responses_are_slow(make_replica):
    site = make_replica(slow_ms=300)
    started = time.monotonic()
    assert fetch(f"{site.base_url}/images/search?q=daisy")[0] == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("settings, message", [
    ({"offclass_share": 1.5}, "offclass_share must be in \\[0, 1\\), got 1.5"),
    ({"offclass_share": 0.5, "broken_share": 0.5}, "noise shares add up to 1"),
    ({"per_page": 0}, "per_page must be between 1 and 1000, got 0"),
])
def test_bad_knobs_are_refused_with_the_value(replica_folder, settings, message):
    with pytest.raises(CrawlerError, match=message):
        ReplicaConfig(folder=replica_folder, **settings)


def test_a_folder_without_class_images_is_refused(tmp_path):
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(CrawlerError, match="has no FOLDER/<class>/<image> files"):
        ReplicaSite(ReplicaConfig(folder=tmp_path))
    with pytest.raises(CrawlerError, match="replica folder not found"):
        ReplicaSite(ReplicaConfig(folder=tmp_path / "missing"))


def test_cli_runs_the_replica_alone_until_stopped(replica_folder, run_cli):
    process = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "replica", str(replica_folder),
                                "--port", "0", "--offclass-share", "0.2", "--seed", "4"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        first_line = readline_within(process.stdout, 60)
        assert "replica serving 3 classes" in first_line, first_line  # (stderr.read() would wait for exit)
        base = first_line.rsplit(" at ", 1)[1].strip()
        truth = json.loads(fetch(f"{base}/__replica/truth.json")[2])
        assert sum(info["kind"] == "offclass" for info in truth.values()) > 0
    finally:
        process.terminate()
        process.wait(timeout=10)
    bad = run_cli("replica", str(replica_folder), "--broken-share", "2")
    assert bad.returncode == 1 and bad.stderr.strip() == "error: broken_share must be in [0, 1), got 2.0"
