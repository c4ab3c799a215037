"""Where a crawl's time goes: the ingest benchmark's 2,000 URLs crawled and curated, with the CPU
of the crawl process apart from its fetch workers', and the crawl's timeline (fates recorded,
polled in the catalog every 0.1 s).

Each CLI command runs under a small wrapper that reports, at exit, its own CPU and that of the
children it reaped (the fetch pool). No peer: this explains bench.ingest's Harvest figure.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from bench import common
from bench.ingest import build_photos, harvest_workspace

NAME = "crawl_cpu"
WRAPPER = """
import atexit, json, resource, runpy, sys
def report():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write("CPU " + json.dumps({"process": own.ru_utime + own.ru_stime,
                                          "workers": kids.ru_utime + kids.ru_stime}) + "\\n")
atexit.register(report)
sys.argv = sys.argv[1:]
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_command(args: list[str], catalog: Path | None = None) -> dict:
    """One CLI command under the wrapper: wall seconds, CPU split, and (with `catalog`) the
    seconds at which fates were first queued, first recorded and all recorded."""
    cmd = [common.PYTHON, "-c", WRAPPER, str(common.REPO / "cli.py"), "-q", *args]
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=common.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    marks: list[tuple[float, int, int]] = []
    while catalog is not None and process.poll() is None:
        marks.append((time.perf_counter() - start, *_fates(catalog)))
        time.sleep(0.1)
    _, stderr = process.communicate()
    wall = time.perf_counter() - start
    if catalog is not None:  # a short crawl may end between two polls: the last word is at its exit
        marks.append((wall, *_fates(catalog)))
    if process.returncode != 0:
        raise RuntimeError(f"cli.py {' '.join(args)} failed: {stderr.strip()[-800:]}")
    cpu = json.loads(next(line for line in stderr.splitlines() if line.startswith("CPU "))[4:])
    result = {"wall_seconds": wall, "cpu_process": cpu["process"], "cpu_workers": cpu["workers"]}
    if marks:
        total = max(queued for _, queued, _ in marks)
        result["queued_by"] = next((t for t, queued, _ in marks if queued > 0), None)
        result["first_fate"] = next((t for t, _, done in marks if done > 0), None)
        result["all_fates"] = next((t for t, _, done in marks if total and done >= total), None)
    return result


def _fates(catalog: Path) -> tuple[int, int]:
    """(candidates queued, candidates with a fate) as the catalog says now; (0, 0) before it exists."""
    if not catalog.exists():
        return 0, 0
    try:
        with sqlite3.connect(catalog, timeout=1) as conn:
            row = conn.execute("SELECT COUNT(*), SUM(status != 'pending') FROM candidates").fetchone()
        return int(row[0] or 0), int(row[1] or 0)
    except sqlite3.Error:
        return 0, 0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.crawl_cpu", description=__doc__)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args(argv)
    photos = build_photos(max(args.images, 2000))
    files = sorted(photos.glob("*.jpg"))[:args.images]
    with tempfile.TemporaryDirectory(prefix="bench-crawl-cpu-") as tmp, common.serve_folder(photos) as base:
        crawl_args, curate_args = harvest_workspace([f"{base}/{f.name}" for f in files], Path(tmp))
        crawl = run_command(crawl_args, Path(crawl_args[1]) / "catalog.sqlite")
        curate = run_command(curate_args)
    n = len(files)
    rows = [
        ["crawl", f"{crawl['wall_seconds']:.1f}", f"{crawl['cpu_process']:.1f}", f"{crawl['cpu_workers']:.1f}",
         f"{1000 * (crawl['cpu_process'] + crawl['cpu_workers']) / n:.1f}",
         f"queued by {crawl['queued_by']:.2f} s, first fate {crawl['first_fate']:.2f} s, all {crawl['all_fates']:.2f} s"],
        ["curate", f"{curate['wall_seconds']:.1f}", f"{curate['cpu_process']:.1f}", f"{curate['cpu_workers']:.1f}",
         f"{1000 * (curate['cpu_process'] + curate['cpu_workers']) / n:.1f}", ""],
    ]
    common.print_table(f"Crawl and curate of {n} URLs from 127.0.0.1: wall and CPU seconds",
                       ["command", "wall s", "CPU: process", "CPU: workers", "CPU ms/image", "timeline"], rows)
    payload = {"images": n, "crawl": crawl, "curate": curate}
    common.write_result(NAME, payload, ())
    return payload


if __name__ == "__main__":
    main()
