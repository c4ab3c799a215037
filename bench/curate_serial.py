"""Curate after a crawl, before/after: the ingest benchmark's 2,000 photos are crawled once (this
tree), then `curate --size 256` runs on fresh copies of that workspace with the Harvest of
`--baseline REV` and with this tree, alternately, `--rounds` times each. After a crawl curate
decodes nothing: its wall time is the serial path (imports, calibration, the duplicate judgement,
the split, moving the cached outputs into a published version). Prints the median wall and CPU
time of each, their ratio, and whether both produced the same catalog verdicts, pairs (kinds,
routes, distances, scores) and curated files.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sqlite3
import statistics
import tempfile
from pathlib import Path

from bench import common
from bench.ingest import build_photos

NAME = "curate_serial"
SIZE = 256


def crawled_workspace(work: Path, count: int) -> Path:
    """A workspace holding a finished crawl of `count` bench photos from a local server."""
    photos = build_photos(count)
    files = sorted(photos.glob("*.jpg"))[:count]
    ws = work / "crawled"
    with common.serve_folder(photos) as base:
        urls = work / "urls.csv"
        urls.write_text("url,class\n" + "".join(f"{base}/{f.name},photos\n" for f in files))
        common.run_cli("init", str(ws), "--classes", "photos", "--target", str(count), "--image-size", str(SIZE))
        common.run_cli("crawl", str(ws), "--urls", str(urls), "--allow-private", "--workers", "8")
    return ws


def outcome(ws: Path) -> dict:
    """What a curate decided: every image's verdict and split, every pair, every curated file."""
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        images = conn.execute("SELECT id, status, reason, split, group_id, duplicate_of, curated_path"
                              " FROM images ORDER BY id").fetchall()
        pairs = conn.execute("SELECT * FROM pairs ORDER BY a, b").fetchall()
    files = sorted(p.relative_to(ws / "curated").as_posix() for p in (ws / "curated").rglob("*.jpg"))
    return {"images": images, "pairs": pairs, "files": files}


def timed_curate(crawled: Path, dest: Path, repo: Path) -> tuple[float, float, dict]:
    """(wall s, CPU s of the curate process and its workers, outcome) of one curate on a copy."""
    shutil.copytree(crawled, dest, symlinks=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = common.run_cli("curate", str(dest), "--size", str(SIZE), "--resize-mode", "center-crop",
                          "--workers", "2", repo=repo)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = outcome(dest)
    shutil.rmtree(dest)
    return wall, cpu, result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.curate_serial", description=__doc__)
    parser.add_argument("--baseline", metavar="REV", required=True, help="git revision to compare with")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-curate-serial-") as tmp:
        work = Path(tmp)
        crawled = crawled_workspace(work, args.images)
        versions = {"before": common.baseline_checkout(args.baseline, work / "baseline"), "after": common.REPO}
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label in versions}
        outcomes = {}
        loads = [common.machine_info()["load_average"][0]]
        for round_ in range(args.rounds):
            for label, repo in versions.items():
                wall, cpu, outcomes[label] = timed_curate(crawled, work / f"{label}-{round_}", repo)
                runs[label].append((wall, cpu))
            loads.append(common.machine_info()["load_average"][0])
    medians = {label: {"wall": statistics.median(w for w, _ in r), "cpu": statistics.median(c for _, c in r)}
               for label, r in runs.items()}
    same = {part: outcomes["before"][part] == outcomes["after"][part] for part in outcomes["after"]}
    rows = [[f"harvest before ({args.baseline})" if label == "before" else "harvest after",
             f"{m['wall']:.2f}", f"{m['cpu']:.2f}", ", ".join(f"{w:.2f}" for w, _ in runs[label])]
            for label, m in medians.items()]
    rows.append(["after / before", f"{medians['after']['wall'] / medians['before']['wall']:.2f}x",
                 f"{medians['after']['cpu'] / medians['before']['cpu']:.2f}x", ""])
    common.print_table(f"Curate after a crawl of {args.images:,} photos ({args.rounds} rounds each, alternating; "
                       f"load {min(loads):.1f}-{max(loads):.1f}); same outcome: {same}",
                       ["tree", "median wall s", "median CPU s", "walls s"], rows)
    payload = {"images": args.images, "rounds": args.rounds, "baseline": args.baseline, "runs": runs,
               "medians": medians, "same_outcome": same, "load_1min": loads}
    common.write_result(NAME, payload)
    return payload


if __name__ == "__main__":
    main()
