"""Issue 21 before/after in one run: the same Harvest measures on a baseline revision (exported
with `git archive`) and on this tree, alternating, so the load of a shared machine falls on both.

- hashing: analyse() over the 2,000 bench photos in a 2-process spawn pool (dedupe_speed's stage);
- search: the index self-join over 100,000 hashes at radius 10 (dedupe_speed's hash set);
- ingest: `crawl --urls` + `curate --size 256` of 2,000 URLs from 127.0.0.1 (ingest's settings).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from bench import common
from bench.dedupe_speed import RADIUS, hash_set
from bench.ingest import SIZE, WORKERS, build_photos

NAME = "speed_before_after"

HASHING = """
import json, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from curation.validate import ValidationLimits
from curation.workers import analyse

def one(job):
    return analyse(job, ValidationLimits()).reason

if __name__ == "__main__":
    files = sys.argv[1:]
    jobs = [f"{n}\\0{p}" for n, p in enumerate(files)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        reasons = list(pool.map(one, jobs, chunksize=16))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "images_per_s": len(files) / seconds,
                      "ok": sum(r is None for r in reasons)}))
"""

SEARCH = """
import json, resource, sys, time
import numpy as np
from curation.index import HammingIndex
hashes = np.load(sys.argv[1])
start = time.perf_counter()
pairs = HammingIndex(hashes.tolist(), radius_hint=int(sys.argv[2])).pairs(int(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - start, "pairs": int(len(pairs)),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_script(repo: Path, code: str, args: list[str]) -> dict:
    script = repo / "_bench_probe.py"
    script.write_text(code)
    done = subprocess.run([common.PYTHON, str(script), *args], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(repo)}, timeout=1800)
    script.unlink()
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-800:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_ingest(repo: Path, urls: list[str], work: Path) -> dict:
    ws, url_file = work / "ws", work / "urls.csv"
    url_file.write_text("url,class\n" + "".join(f"{u},photos\n" for u in urls))
    common.run_cli("init", str(ws), "--classes", "photos", "--target", str(len(urls)), "--image-size", str(SIZE),
                   repo=repo)
    crawl = common.run_cli("crawl", str(ws), "--urls", str(url_file), "--allow-private", "--workers", str(WORKERS),
                           repo=repo)
    curate = common.run_cli("curate", str(ws), "--size", str(SIZE), "--resize-mode", "center-crop", "--workers",
                            str(os.cpu_count() or 2), repo=repo)
    return {"crawl_seconds": crawl, "curate_seconds": curate, "images_per_s": len(urls) / (crawl + curate)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.speed_before_after", description=__doc__)
    parser.add_argument("--baseline", default="main", help="git revision measured as 'before'")
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args(argv)
    photos = build_photos(max(args.images, 2000))
    files = [str(p) for p in sorted(photos.glob("*.jpg"))[:args.images]]
    results: dict[str, dict[str, dict]] = {"hashing": {}, "search_100k": {}, "ingest": {}}
    with tempfile.TemporaryDirectory(prefix="bench-before-after-") as tmp:
        trees = {"before": common.baseline_checkout(args.baseline, Path(tmp) / "before"), "after": common.REPO}
        for side, repo in trees.items():
            results["hashing"][side] = {**run_script(repo, HASHING, files), "load": os.getloadavg()[0]}
        for side, repo in trees.items():
            results["search_100k"][side] = {**run_script(repo, SEARCH, [str(hash_set(100_000)), str(RADIUS)]),
                                            "load": os.getloadavg()[0]}
        with common.serve_folder(photos) as base:
            urls = [f"{base}/{Path(f).name}" for f in files]
            for side, repo in trees.items():
                work = Path(tmp) / f"ingest-{side}"
                work.mkdir()
                results["ingest"][side] = {**run_ingest(repo, urls, work), "load": os.getloadavg()[0]}
    rows = []
    for measure, key, unit in (("hashing", "images_per_s", "images/s"), ("search_100k", "seconds", "s"),
                               ("ingest", "images_per_s", "images/s")):
        before, after = results[measure]["before"][key], results[measure]["after"][key]
        gain = after / before if unit != "s" else before / after
        rows.append([measure, f"{before:.2f} {unit}", f"{after:.2f} {unit}", f"{gain:.2f}x",
                     f"{results[measure]['before']['load']:.1f} / {results[measure]['after']['load']:.1f}"])
    common.print_table(f"Issue 21 before ({args.baseline}) / after, same run, {len(files)} photos",
                       ["measure", "before", "after", "speed-up", "load (before / after)"], rows)
    payload = {"baseline": args.baseline, "images": len(files), "results": results}
    common.write_result(NAME, payload)
    return payload


if __name__ == "__main__":
    main()
