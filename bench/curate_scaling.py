"""Curate at growing sizes: wall time and peak RSS of `curate` on 1k / 10k / 100k images, and
the fitted growth exponent (time ~ n^k; near-linear is k close to 1).

The images are synthetic small JPEGs (128 px mosaics of four random 64 px tiles cut from the
shared photos, each with its own tint), made once into bench/.cache/scaling; every image is
distinct, in 10 classes. Each size is imported into a fresh workspace (import timed too), then
`curate --size 64` runs in its own process; its peak RSS is read from wait4 (the largest of the
curate process and the worker processes it reaped).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from bench import common

NAME = "curate_scaling"
SIDE = 128
TILE = 64
CLASSES = 10
OUTPUT_SIZE = 64
MEMORY_GOAL_MB = 2048
PER_FOLDER = 1000  # images per generated folder (a size takes whole folders)


def build_images(count: int) -> Path:
    """`count` distinct synthetic JPEGs in bench/.cache/scaling/c<k>/<block>/, made once."""
    root = common.CACHE_DIR / "scaling"
    marker = root / f".done-{count}"
    if marker.exists():
        return root
    tiles = _tiles()
    for n in range(count):
        block = root / f"c{n % CLASSES}" / f"b{n // PER_FOLDER:04d}"
        dest = block / f"{n:06d}.jpg"
        if dest.exists():
            continue
        rng = random.Random(2021 * 1_000_003 + n)  # per image: a partial cache resumes the same set
        block.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (SIDE, SIDE))
        for k in range(4):
            image.paste(tiles[rng.randrange(len(tiles))], ((k % 2) * TILE, (k // 2) * TILE))
        if rng.random() < 0.5:
            image = ImageOps.mirror(image)
        tint = Image.new("RGB", image.size, tuple(rng.randrange(256) for _ in range(3)))
        Image.blend(image, tint, 0.15 + 0.2 * rng.random()).save(dest, "JPEG", quality=85)
    marker.touch()
    return root


def _tiles() -> list[Image.Image]:
    out = []
    for path in common.flower_photos():
        with Image.open(path) as im:
            im.draft("RGB", (2 * TILE, 2 * TILE))
            out.append(ImageOps.fit(im.convert("RGB"), (TILE, TILE)))
    return out


def select(root: Path, count: int, dest: Path) -> Path:
    """A folder of class folders holding the first `count` images (symlinks, no copies)."""
    for n in range(count):
        source = root / f"c{n % CLASSES}" / f"b{n // PER_FOLDER:04d}" / f"{n:06d}.jpg"
        link = dest / f"c{n % CLASSES}" / source.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source)
    return dest


def run_measured(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of `python cli.py -q ARGS`, raising on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen([common.PYTHON, str(common.REPO / "cli.py"), "-q", *args], cwd=common.REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"cli.py {' '.join(args)} failed: {proc.stderr.read().decode()[-800:]}")
    return seconds, usage.ru_maxrss / 1024.0


def measure(root: Path, count: int, work: Path) -> dict:
    ws = work / f"ws{count}"
    folder = select(root, count, work / f"in{count}")
    common.run_cli("init", str(ws), "--classes", ",".join(f"c{k}" for k in range(CLASSES)))
    load_before = os.getloadavg()[0]
    import_s, import_mb = run_measured(["import", str(ws), str(folder)])
    curate_s, curate_mb = run_measured(["curate", str(ws), "--size", str(OUTPUT_SIZE), "--workers",
                                        str(os.cpu_count() or 2)])
    written = sum(1 for _ in (ws / "curated").rglob("*.jpg"))
    shutil.rmtree(ws, ignore_errors=True)
    return {"images": count, "import_seconds": import_s, "import_peak_mb": import_mb,
            "curate_seconds": curate_s, "curate_peak_mb": curate_mb, "written": written,
            "curate_images_per_s": count / curate_s, "load_before": load_before, "load_after": os.getloadavg()[0]}


def growth_exponent(sizes: list[int], seconds: list[float]) -> float | None:
    """Least-squares slope of log(time) against log(size)."""
    if len(sizes) < 2:
        return None
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.curate_scaling", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated image counts")
    parser.add_argument("--quick", action="store_true", help="sizes 200 and 1000")
    parser.add_argument("--no-peers", action="store_true", help=argparse.SUPPRESS)  # no peer here
    parser.add_argument("--peer-timeout", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [200, 1000] if args.quick else [int(s) for s in args.sizes.split(",")]
    root = build_images(max(sizes))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        for count in sizes:
            rows.append(measure(root, count, Path(tmp)))
            print(f"  {count:,} images: curate {rows[-1]['curate_seconds']:.1f} s, "
                  f"{rows[-1]['curate_peak_mb']:.0f} MB (load {rows[-1]['load_before']:.1f})", flush=True)
    exponent = growth_exponent([r["images"] for r in rows], [r["curate_seconds"] for r in rows])
    peak = max(r["curate_peak_mb"] for r in rows)
    common.print_table(f"Curate scaling: synthetic {SIDE} px JPEGs in {CLASSES} classes -> {OUTPUT_SIZE} px, "
                       f"{os.cpu_count()} processes", ["images", "import s", "curate s", "curate images/s",
                                                       "curate peak MB", "written", "load 1 min"],
                       [[f"{r['images']:,}", f"{r['import_seconds']:.1f}", f"{r['curate_seconds']:.1f}",
                         f"{r['curate_images_per_s']:.0f}", f"{r['curate_peak_mb']:.0f}", r["written"],
                         f"{r['load_before']:.1f}-{r['load_after']:.1f}"] for r in rows]
                       + [["growth exponent (time ~ n^k)", "", f"k = {exponent:.2f}" if exponent else "-", "",
                           f"max {peak:.0f}", "", ""]])
    payload = {"sizes": sizes, "rows": rows, "growth_exponent": exponent, "peak_mb": peak,
               "goals": {"growth_exponent": "near 1", "peak_mb_at_100k": MEMORY_GOAL_MB}}
    common.write_result(NAME, payload)
    return payload


if __name__ == "__main__":
    main()
