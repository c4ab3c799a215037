"""Issue 21: what the two ingest goals leave per image on this machine, against what the work
they ask for costs here, all measured in one run on the ingest benchmark's 2,000 photos.

A goal on wall time is a budget of core time per image: on C cores, W seconds for N images
allow W x C / N seconds of one core each. 1.5x img2dataset allows img2dataset's wall / 1.5;
50 % of the floor allows twice the floor's per-image time. Against that, the steps every
image needs, each measured alone (none waits for another, so they are a lower bound):
- analysis: `check_download` (draft decode, output resize + encode, flags, all hashes, thumbnail)
  in C spawn processes over local files: no HTTP, no catalog;
- download: `fetch_to_file` (HTTP client, temp file, sha256) in one thread of a subprocess;
- the server answering it (this process's CPU meanwhile: the same server as the benchmark's);
- curate after a crawl: its wall x C (it runs after the crawl; what it leaves idle counts).
Printed as milliseconds of one core per image. No peer is beaten or lost here: this explains
bench.ingest's figures.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from bench import common
from bench.ingest import PEER_GOAL, PROCESSES, SIZE, build_photos, floor_seconds_per_image, run_harvest, run_img2dataset

NAME = "ingest_budget"

DOWNLOAD = """
import resource, sys, tempfile, uuid
from pathlib import Path
from crawler.http import HttpPolicy, fetch_to_file, make_session
policy = HttpPolicy(allow_private=True)
session, folder = make_session(policy, pool_size=1), Path(tempfile.mkdtemp())
before = resource.getrusage(resource.RUSAGE_SELF)
for url in sys.argv[1:]:
    part = folder / f"{uuid.uuid4().hex}.part"
    assert fetch_to_file(session, url, part, policy).ok, url
    part.unlink()
after = resource.getrusage(resource.RUSAGE_SELF)
print(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
"""


def _check(job: tuple[str, str]) -> str | None:
    from curation.ingest_analysis import check_download
    from curation.resize import ResizeSpec

    path, cache = job
    return check_download(path, Path(cache).stem, cache, 10**9, ResizeSpec(SIZE, "center-crop")).reason


def _one_blas_thread() -> None:
    from curation.resample import blas_single_threaded

    blas_single_threaded()


def analysis_cpu(files: list[Path], work: Path) -> dict:
    """check_download over `files` in PROCESSES spawn processes: CPU and wall."""
    jobs = [(str(path), str(work / f"{n:016x}.jpg")) for n, path in enumerate(files)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with ProcessPoolExecutor(PROCESSES, mp_context=get_context("spawn"), initializer=_one_blas_thread) as pool:
        refused = [reason for reason in pool.map(_check, jobs, chunksize=16) if reason]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if refused:
        raise RuntimeError(f"{len(refused)} bench photos refused by the check: {refused[:3]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"cpu_seconds": cpu, "wall_seconds": wall}


def download_cpu(urls: list[str]) -> dict:
    """fetch_to_file over `urls`, one thread in a subprocess: its CPU, and the server's (ours)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    done = subprocess.run([common.PYTHON, "-c", DOWNLOAD, *urls], cwd=common.REPO, capture_output=True,
                          text=True, check=True, env={**os.environ, "PYTHONPATH": str(common.REPO)})
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"client_cpu_seconds": float(done.stdout.strip().splitlines()[-1]),
            "server_cpu_seconds": after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime}


def per_image_ms(seconds: float, count: int) -> float:
    return 1000 * seconds / count


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_budget", description=__doc__)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--peer-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    photos = build_photos(max(args.images, 2000))
    files = sorted(photos.glob("*.jpg"))[:args.images]
    count = len(files)
    floor = floor_seconds_per_image(files, sample=min(count, 150))
    with tempfile.TemporaryDirectory(prefix="bench-budget-") as tmp, common.serve_folder(photos) as base:
        work = Path(tmp)
        urls = [f"{base}/{f.name}" for f in files]
        (work / "cache").mkdir()
        analysis = analysis_cpu(files, work / "cache")
        download = download_cpu(urls)
        harvest = run_harvest(urls, work)
        peer = run_img2dataset(urls, work, args.peer_timeout)
    if peer["status"] != "ok":
        raise SystemExit(f"img2dataset did not run ({peer['status']}: {peer.get('detail', '')}): no budget to print")

    core_ms = lambda wall: per_image_ms(wall * PROCESSES, count)  # noqa: E731 - one core's ms per image
    steps = {
        "analysis (check_download, all processes)": per_image_ms(analysis["cpu_seconds"], count),
        "download client (fetch_to_file)": per_image_ms(download["client_cpu_seconds"], count),
        "server answering it": per_image_ms(download["server_cpu_seconds"], count),
        "curate after the crawl (wall x cores)": core_ms(harvest["curate_seconds"]),
    }
    needed = sum(steps.values())
    budgets = {f"{PEER_GOAL}x img2dataset (its wall {peer['seconds']:.1f} s / {PEER_GOAL})": core_ms(peer["seconds"] / PEER_GOAL),
               f"50 % of the floor (2 x {1000 * floor:.1f} ms)": 2 * 1000 * floor}
    rows = [[name, f"{ms:.2f}", ""] for name, ms in steps.items()]
    rows.append(["the steps alone, summed", f"{needed:.2f}", "a lower bound: no catalog, hand-off, start-up"])
    rows.append(["harvest crawl + curate as run (wall x cores)", f"{core_ms(harvest['seconds']):.2f}",
                 f"{harvest['seconds']:.1f} s: crawl {harvest['crawl_seconds']:.1f} + curate {harvest['curate_seconds']:.1f}"])
    for name, ms in budgets.items():
        rows.append([f"budget: {name}", f"{ms:.2f}", f"{ms - needed:+.2f} ms left after the steps alone"])
    common.print_table(f"Ingest budget, {count} photos, {PROCESSES} cores, ms of one core per image "
                       f"(load {os.getloadavg()[0]:.1f})", ["what", "ms/image", "note"], rows)
    payload = {"images": count, "cores": PROCESSES, "steps_ms": steps, "steps_sum_ms": needed,
               "harvest": harvest, "img2dataset": peer, "floor_ms": 1000 * floor,
               "analysis": analysis, "download": download, "budgets_ms": budgets}
    common.write_result(NAME, payload, ("img2dataset",))
    return payload


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
