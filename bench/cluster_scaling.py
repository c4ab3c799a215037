"""`python -m bench.cluster_scaling [--images N] [--urls N] [--rows N]`: what a Dask cluster buys.

Measured in one run, against the local default as the baseline:
- curate throughput (analysis, dedupe, split, resize) on real photos: this machine's process pool,
  then a LocalCluster of 1 and of 2 worker processes (cluster start-up timed apart);
- URL-list download throughput from a local HTTP server: the local download threads, then shards
  on 1 and 2 workers;
- the near-duplicate self-join of 100k hashes: the local index, then the band join on 2 workers;
- the driver's catalog commit rate in rows/s (the ceiling of any cluster): analysis rows committed
  in batches as curate does, and download fates recorded one URL at a time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import common


def imported_workspace(root: Path, photos: list[Path]):
    from workspace.importer import import_labelled
    from workspace.layout import init_workspace

    src = root / "src"
    for photo in photos:
        dest = src / common.class_of(photo) / photo.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, dest)
    ws = init_workspace(root / "ws", sorted({common.class_of(p) for p in photos})).workspace
    import_labelled(ws, src)
    return ws


DRIVER_STEPS = ("_dedupe_items", "ceiling_candidates", "calibrate", "judge", "_record_pairs", "_apply_decisions",
                "_write_metadata")


def timed_curate(ws, dest: Path, cluster: str | None) -> tuple[float, float]:
    """(seconds for the whole curate, seconds of it in the driver's serial steps: calibration,
    the duplicate judgement, the split and the metadata, all in one process)."""
    from curation import pipeline
    from curation.pipeline import CurateConfig, curate
    from workspace.layout import open_workspace

    shutil.copytree(ws.root, dest)
    spent = [0.0]
    originals = {name: getattr(pipeline, name) for name in DRIVER_STEPS}

    def timed(function):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
        return run

    for name, function in originals.items():
        setattr(pipeline, name, timed(function))
    try:
        start = time.perf_counter()
        summary = curate(open_workspace(dest), CurateConfig(size=128, cluster=cluster))
        elapsed = time.perf_counter() - start
    finally:
        for name, function in originals.items():
            setattr(pipeline, name, function)
    assert summary.analysed > 0
    return elapsed, spent[0]


def timed_download(root: Path, urls_file: Path, cluster: str | None) -> tuple[float, int]:
    from crawler.crawl import CrawlConfig, crawl
    from crawler.http import HttpPolicy
    from workspace.layout import init_workspace

    ws = init_workspace(root, ["photos"]).workspace
    start = time.perf_counter()
    summary = crawl(ws, CrawlConfig(urls_file=urls_file, url_class="photos", cluster=cluster,
                                    http=HttpPolicy(allow_private=True, per_host=16)))
    return time.perf_counter() - start, summary.downloaded


def commit_rates(root: Path, rows: int) -> dict:
    """Rows/s the driver commits: curate's analysis batches, and per-URL download fates."""
    from cluster.downloads import ClusterDownloader, Fetched
    from crawler.proposal import UrlProposal
    from crawler.crawl import queue_proposals
    from crawler.http import HttpPolicy
    from curation.hashing import ImageHashes, Signature
    from curation.pipeline import CurateConfig, _record_analysis
    from curation.workers import Analysis
    from workspace.imagecheck import ImageInfo
    from workspace.layout import init_workspace

    ws = init_workspace(root, ["a"]).workspace
    rng = np.random.default_rng(0)
    config = CurateConfig()
    with ws.catalog() as catalog:
        with catalog.transaction() as conn:
            conn.executemany("INSERT INTO images (id, sha256, path, class, source, status, label_source, added_at)"
                             " VALUES (?, ?, ?, 'a', ?, 'stored', 'query', '2026')",
                             [(f"{k:016x}", f"{k:064x}", f"raw/{k:064x}.jpg", f"s{k}") for k in range(rows)])
        hexes = [f"{int(v):016x}" for v in rng.integers(0, 2**63, 5)]
        signature = Signature(ImageHashes(*hexes[:4]), hexes[4] * 18, bytes(1024))   # real field sizes
        analyses = [Analysis(f"{k:016x}", None, ("blurry",), signature) for k in range(rows)]
        start = time.perf_counter()
        for first in range(0, rows, 32):
            with catalog.transaction() as conn:
                for result in analyses[first:first + 32]:
                    _record_analysis(conn, result, config)
        analysis_rate = rows / (time.perf_counter() - start)
        fates = rows // 4
        queue_proposals(catalog, "a", [UrlProposal(url=f"http://example.org/{k}.jpg", engine="urls")
                                         for k in range(fates)], True)
        candidates = [dict(r) for r in catalog.all("SELECT * FROM candidates ORDER BY id")]
        downloader = ClusterDownloader(ws, catalog, HttpPolicy(), client=None)
        info = ImageInfo("jpeg", 640, 480)
        start = time.perf_counter()
        for k, row in enumerate(candidates):
            sha = f"{k + 10**9:064x}"
            downloader.record(row, Fetched(row["id"], sha256=sha, size=50_000, path=f"raw/{sha[:2]}/{sha}.jpg",
                                           info=info))
        fate_rate = len(candidates) / (time.perf_counter() - start)
        downloader.close()
    return {"analysis_rows_per_s": analysis_rate, "download_fates_per_s": fate_rate,
            "analysis_rows": rows, "download_fates": len(candidates)}


def band_join_times(client) -> dict:
    from cluster.band_join import band_join_pairs
    from curation.index import HammingIndex

    values = np.random.default_rng(3).integers(0, 2**64, 100_000, dtype=np.uint64, endpoint=False)
    start = time.perf_counter()
    expected = HammingIndex(values, radius_hint=10).pairs(10)
    local = time.perf_counter() - start
    start = time.perf_counter()
    found = band_join_pairs(values, 10, client=client)
    joined = time.perf_counter() - start
    return {"hashes": len(values), "local_index_s": local, "band_join_2_workers_s": joined,
            "same_pairs": bool(np.array_equal(found, expected))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--urls", type=int, default=600)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    from cluster.connect import _quiet_dask_logs

    _quiet_dask_logs()
    load_before = os.getloadavg()
    result: dict = {"images": args.images, "urls": args.urls}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        root = Path(tmp)
        ws = imported_workspace(root / "photos", common.flower_photos(args.images))
        served = root / "served"
        served.mkdir()
        for k, photo in enumerate(common.flower_photos(args.urls)):
            shutil.copy(photo, served / f"{k}.jpg")
        curate_s = {"local pool": timed_curate(ws, root / "c-local", None)}
        download_s = {}
        with common.serve_folder(served) as base:
            urls_file = root / "urls.txt"
            urls_file.write_text("".join(f"{base}/{k}.jpg\n" for k in range(args.urls)))
            download_s["local threads"] = timed_download(root / "d-local", urls_file, None)
            for workers in (1, 2):
                start = time.perf_counter()
                with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
                    result[f"cluster_start_{workers}_s"] = time.perf_counter() - start
                    address = cluster.scheduler_address
                    curate_s[f"{workers} worker(s)"] = timed_curate(ws, root / f"c-{workers}", address)
                    download_s[f"{workers} worker(s)"] = timed_download(root / f"d-{workers}", urls_file, address)
                    if workers == 2:
                        with Client(address) as client:
                            result["band_join"] = band_join_times(client)
        result["curate_images_per_s"] = {k: args.images / v for k, (v, _) in curate_s.items()}
        result["curate_driver_serial_s"] = {k: serial for k, (_, serial) in curate_s.items()}
        result["curate_seconds"] = {k: v for k, (v, _) in curate_s.items()}
        result["download_urls_per_s"] = {k: n / v for k, (v, n) in download_s.items()}
        result["commit"] = commit_rates(root / "commit", args.rows)
    result["load_average_before"] = load_before
    report(result)
    common.write_result("cluster_scaling", result)
    return result


def report(result: dict) -> None:
    base = result["curate_images_per_s"]["local pool"]
    common.print_table(f"curate, {result['images']} real photos (images/s; ratio to the local pool)",
                       ["where", "images/s", "ratio", "seconds", "of which driver serial s"],
                       [[k, v, f"{v / base:.2f}x", result["curate_seconds"][k], result["curate_driver_serial_s"][k]]
                        for k, v in result["curate_images_per_s"].items()])
    base = result["download_urls_per_s"]["local threads"]
    common.print_table(f"URL-list download, {result['urls']} URLs from 127.0.0.1 (stored/s; ratio to local threads)",
                       ["where", "URLs/s", "ratio"],
                       [[k, v, f"{v / base:.2f}x"] for k, v in result["download_urls_per_s"].items()])
    join = result["band_join"]
    common.print_table("near-duplicate self-join, 100k hashes, r=10", ["how", "seconds", "same pairs"],
                       [["local index", join["local_index_s"], "-"],
                        ["band join, 2 workers", join["band_join_2_workers_s"], join["same_pairs"]]])
    commit = result["commit"]
    common.print_table("driver catalog commit rate", ["what", "rows/s"],
                       [["analysis rows (batches of 32)", commit["analysis_rows_per_s"]],
                        ["download fates (one URL at a time)", commit["download_fates_per_s"]]])
    print(f"cluster start-up: 1 worker {result['cluster_start_1_s']:.1f} s, 2 workers {result['cluster_start_2_s']:.1f} s;"
          f" load average before {result['load_average_before']}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()
