"""Issue 21, stop 25: the CPU of ingest's check (`check_download`: decode, output, analysis) per
image, step by step, on a baseline revision (exported with `git archive`) and on this tree, in
one process each, alternating rounds so the load of a shared machine falls on both; each step's
best round is kept. Single process, no pool: these are the analysis workers' per-image costs.

Steps a version does not have are blank (the baseline's `inspect_header`, this tree's `sniff`).
The floor (bench.ingest's `floor_seconds_per_image`) is read + sha256 + decode + fit + save +
grey_hashes: all else is what analysis adds on top of it.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench import common
from bench.ingest import build_photos
from bench.speed_before_after import run_script

NAME = "analysis_steps"
FLOOR_STEPS = ("read+sha256", "decode", "fit", "save", "grey_hashes")

STEPS = """
import hashlib, io, json, sys, time
from collections import defaultdict
from pathlib import Path
import curation.ingest_analysis as ingest_analysis
from curation.hashing import crop_hashes, grey_hashes, thumbnail
from curation.quality import QualityThresholds, quality_flags
from curation.resize import ResizeSpec, resize_image
from curation.validate import decode
from curation.workers import analysis_copy
from workspace import imagecheck

files, cache = [Path(p) for p in sys.argv[2:]], Path(sys.argv[1])
spec, limits, big = ResizeSpec(256), ingest_analysis.ingest_limits(10**9), 10**9
seconds = defaultdict(float)

def timed(name, call, *args):
    start = time.perf_counter()
    result = call(*args)
    seconds[name] += time.perf_counter() - start
    return result

for path in files:
    path.read_bytes()
for n, path in enumerate(files):
    timed("read+sha256", lambda: hashlib.sha256(path.read_bytes()).hexdigest())
    if hasattr(ingest_analysis, "inspect_header"):
        timed("inspect_header", imagecheck.inspect_header, path, big)
    else:
        timed("sniff", imagecheck.sniff_file, path)
    decoded = timed("decode", decode, path, limits, 256)
    image, size = (decoded.image, decoded.size) if hasattr(decoded, "image") else decoded
    out = timed("fit", resize_image, image, spec)
    timed("save", lambda: out.save(io.BytesIO(), "JPEG", quality=spec.quality))
    copy = timed("analysis_copy", analysis_copy, image)
    grey = timed("analysis_copy", lambda: copy if copy.mode == "L" else copy.convert("L"))
    timed("flags", quality_flags, copy if copy.mode == "RGB" else image, size, QualityThresholds(), grey)
    timed("grey_hashes", grey_hashes, grey)
    timed("crop_hashes", crop_hashes, grey)
    timed("thumb", thumbnail, grey)
    timed("check_download", ingest_analysis.check_download, str(path), "x", str(cache / f"{n}.jpg"), big, spec)
print(json.dumps({name: 1000 * total / len(files) for name, total in seconds.items()}))
"""


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.analysis_steps", description=__doc__)
    parser.add_argument("--baseline", default="main", help="git revision measured as 'before'")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    files = [str(p) for p in sorted(build_photos(2000).glob("*.jpg"))[:args.images]]
    best: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    loads = []
    with tempfile.TemporaryDirectory(prefix="bench-analysis-steps-") as tmp:
        trees = {"before": common.baseline_checkout(args.baseline, Path(tmp) / "before"), "after": common.REPO}
        for _ in range(args.rounds):
            for side, repo in trees.items():
                loads.append(os.getloadavg()[0])
                cache = Path(tempfile.mkdtemp(prefix=f"cache-{side}-", dir=tmp))  # a new output name per image, as in a crawl
                steps = run_script(repo, STEPS, [str(cache), *files])
                best[side] = {k: min(v, best[side].get(k, v)) for k, v in steps.items()}
    rows = []
    for step in dict.fromkeys([*best["before"], *best["after"]]):
        before, after = best["before"].get(step), best["after"].get(step)
        ratio = f"{before / after:.2f}x" if before and after else ""
        rows.append([step, f"{before:.2f}" if before else "", f"{after:.2f}" if after else "", ratio])
    extra = {side: sum(v for k, v in best[side].items() if k not in (*FLOOR_STEPS, "check_download"))
             for side in best}
    rows.append(["analysis beyond the floor", f"{extra['before']:.2f}", f"{extra['after']:.2f}",
                 f"{extra['before'] / extra['after']:.2f}x"])
    common.print_table(f"check_download per image, ms (best of {args.rounds} alternating rounds, {len(files)} photos,"
                       f" load {min(loads):.1f}-{max(loads):.1f}), before = {args.baseline}",
                       ["step", "before", "after", "speed-up"], rows)
    payload = {"baseline": args.baseline, "images": len(files), "rounds": args.rounds, "ms_per_image": best,
               "beyond_floor_ms": extra, "load_range": [min(loads), max(loads)]}
    common.write_result(NAME, payload)
    return payload


if __name__ == "__main__":
    main()
