"""Ingest: N image URLs on a local HTTP server, downloaded and resized to 256 px.

Harvest (`init` + `crawl --urls --allow-private` + `curate --size 256`) against img2dataset
(`--output_format files`, same size, same process/thread count), plus the floor: the per-image
decode + resize + encode + hash cost measured alone, times the images, over the cores.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps

from bench import common, peers

NAME = "ingest"
SIZE = 256
WORKERS = 8          # Harvest download threads == img2dataset processes x threads
PROCESSES = os.cpu_count() or 2
PEER_GOAL = 1.5          # issue 21: ingest + full curate >= 1.5x img2dataset
FLOOR_SHARE_GOAL = 0.5   # ... and >= 50 % of the floor's images/s


def build_photos(count: int) -> Path:
    """Realistic 500-1600 px JPEGs from the shared photos, made once into bench/.cache.

    The first photos are upscaled originals; past the 1,500 originals come 2x2 mosaics of four
    different photos, so every file is a distinct image (no dedupe shortcut for anyone).
    """
    folder = common.CACHE_DIR / "ingest_photos"
    done_marker = folder / f".done-{count}"
    if done_marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    sources = common.flower_photos()
    rng = random.Random(1337)
    for i in range(count):
        dest = folder / f"{i:05d}.jpg"
        if dest.exists():
            continue
        long_side = rng.randint(500, 1600)
        if i < len(sources):
            with Image.open(sources[i]) as im:
                image = im.convert("RGB")
        else:
            picks = rng.sample(sources, 4)
            tiles = [ImageOps.fit(Image.open(p).convert("RGB"), (400, 300)) for p in picks]
            image = Image.new("RGB", (800, 600))
            for n, tile in enumerate(tiles):
                image.paste(tile, ((n % 2) * 400, (n // 2) * 300))
        scale = long_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.BICUBIC)
        image.save(dest, "JPEG", quality=90)
    done_marker.touch()
    return folder


def floor_seconds_per_image(files: list[Path], sample: int) -> float:
    """The work one image needs, done once in the cheapest plain-Pillow way, on one core: read,
    sha256, one JPEG decode at reduced scale (draft to the 2x-output size Harvest decodes to),
    a 256 px center crop and a JPEG encode at Harvest's quality, and the four hashes Harvest
    keeps, from one small grey copy (32 px pHash / 9x8 dHash arrays, one batched DCT). No
    catalog, no HTTP, no processes, no quality flags or crop hashes."""
    from curation.hashing import grey_hashes
    from curation.resize import ResizeSpec, decode_side

    spec = ResizeSpec(SIZE)
    picked = files[:sample]
    start = time.perf_counter()
    for path in picked:
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (decode_side(spec), decode_side(spec)))
            image = im.convert("RGB")
        small = ImageOps.fit(image, (SIZE, SIZE), Image.Resampling.BICUBIC)
        small.save(io.BytesIO(), "JPEG", quality=spec.quality)
        grey_hashes(small.convert("L"))
    return (time.perf_counter() - start) / len(picked)


def children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process and its reaped descendants
    (a CLI's worker pool included): a run's CPU is the difference around it."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def harvest_workspace(urls: list[str], work: Path) -> tuple[list[str], list[str]]:
    """A workspace for `urls` under `work`, and the crawl and curate commands (CLI arguments)
    this benchmark times, also run by bench.crawl_cpu to explain its figure."""
    ws = work / "harvest_ws"
    url_file = work / "urls.csv"
    url_file.write_text("url,class\n" + "".join(f"{u},photos\n" for u in urls))
    common.run_cli("init", str(ws), "--classes", "photos", "--target", str(len(urls)), "--image-size", str(SIZE))
    crawl = ["crawl", str(ws), "--urls", str(url_file), "--allow-private", "--workers", str(WORKERS)]
    curate = ["curate", str(ws), "--size", str(SIZE), "--resize-mode", "center-crop", "--workers", str(PROCESSES)]
    return crawl, curate


def run_harvest(urls: list[str], work: Path) -> dict:
    crawl, curate = harvest_workspace(urls, work)
    ws = Path(crawl[1])
    cpu = children_cpu()
    t_crawl = common.run_cli(*crawl)
    cpu_crawl, cpu = children_cpu() - cpu, children_cpu()
    t_curate = common.run_cli(*curate)
    cpu_curate = children_cpu() - cpu
    written = sum(1 for p in (ws / "curated").rglob("*") if p.suffix in (".jpg", ".jpeg", ".png", ".webp"))
    total = t_crawl + t_curate
    return {"status": "ok", "seconds": total, "crawl_seconds": t_crawl, "curate_seconds": t_curate,
            "crawl_cpu_seconds": cpu_crawl, "curate_cpu_seconds": cpu_curate,
            "images_written": written, "images_per_s": len(urls) / total}


def run_img2dataset(urls: list[str], work: Path, timeout: float) -> dict:
    url_file = work / "urls.txt"
    url_file.write_text("".join(f"{u}\n" for u in urls))
    out = work / "img2dataset_out"
    result = peers.run_peer("img2dataset", "img2dataset_run.py",
                            [str(url_file), str(out), str(SIZE), str(PROCESSES), str(WORKERS // PROCESSES)],
                            timeout=timeout)
    if result["status"] == "ok":
        result["images_per_s"] = len(urls) / result["seconds"]
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 images, for a smoke check")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--no-peers", action="store_true", help="Harvest side only")
    parser.add_argument("--peer-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    count = args.images or (100 if args.quick else 2000)

    photos = build_photos(max(count, 2000) if not args.quick else count)
    files = sorted(photos.glob("*.jpg"))[:count]
    floor = floor_seconds_per_image(files, sample=min(len(files), 20 if args.quick else 150))
    floor_rate = PROCESSES / floor
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp, common.serve_folder(photos) as base:
        work = Path(tmp)
        urls = [f"{base}/{f.name}" for f in files]
        harvest = run_harvest(urls, work)
        cpu = children_cpu()
        peer = ({"status": "skipped"} if args.no_peers else run_img2dataset(urls, work, args.peer_timeout))
        peer["cpu_seconds"] = children_cpu() - cpu
        shutil.rmtree(work, ignore_errors=True)

    vs_peer = common.ratio(harvest["images_per_s"], peer.get("images_per_s"))
    vs_floor = common.ratio(floor_rate, harvest["images_per_s"])
    share_of_floor = common.ratio(harvest["images_per_s"], floor_rate)
    rows = [
        ["harvest crawl --urls + curate", f"{harvest['seconds']:.1f}", f"{harvest['images_per_s']:.1f}",
         f"crawl {harvest['crawl_seconds']:.1f} s + curate {harvest['curate_seconds']:.1f} s;"
         f" CPU {harvest['crawl_cpu_seconds']:.1f} + {harvest['curate_cpu_seconds']:.1f} s"],
        ["img2dataset (files)", f"{peer['seconds']:.1f}" if "seconds" in peer else "-",
         f"{peer['images_per_s']:.1f}" if "images_per_s" in peer else "-",
         f"{peer.get('images_ok', '')} ok; CPU {peer['cpu_seconds']:.1f} s" if peer["status"] == "ok"
         else f"{peer['status']}: {peer.get('detail', '')}"],
        ["floor (decode+resize+encode+hash)", f"{count / floor_rate:.1f}", f"{floor_rate:.1f}",
         f"{floor * 1000:.1f} ms/image x {count} / {PROCESSES} cores"],
        ["ratio harvest / img2dataset", "", f"{vs_peer:.2f}x" if vs_peer else "-", f"goal >= {PEER_GOAL}x"],
        ["harvest share of the floor", "", f"{share_of_floor:.0%}" if share_of_floor else "-",
         f"goal >= {FLOOR_SHARE_GOAL:.0%}"],
    ]
    common.print_table(f"Ingest: {count} URLs from 127.0.0.1 -> {SIZE} px, {PROCESSES} processes, "
                       f"{WORKERS} download threads", ["tool", "seconds", "images/s", "note"], rows)
    payload = {"images": count, "size": SIZE, "processes": PROCESSES, "download_threads": WORKERS,
               "harvest": harvest, "img2dataset": peer,
               "floor": {"seconds_per_image": floor, "images_per_s": floor_rate},
               "ratio_vs_img2dataset": vs_peer, "floor_over_harvest": vs_floor, "share_of_floor": share_of_floor,
               "goals": {"ratio_vs_img2dataset": f">= {PEER_GOAL}", "share_of_floor": f">= {FLOOR_SHARE_GOAL}"}}
    common.write_result(NAME, payload, ("img2dataset",))
    return payload


if __name__ == "__main__":
    main()
