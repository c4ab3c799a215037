"""Dedupe speed: perceptual hashing images/s, and near-duplicate search over 10k / 100k / 1M
64-bit hashes at radius 10, Harvest against imagededup (PHash, BK-tree and brute force).

Every search runs in its own subprocess so its peak memory (ru_maxrss) is its own. A peer
method that times out at one size is not tried at the larger sizes; for the brute-force methods
(exactly quadratic) the table then shows the time projected from the last size that finished.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from bench import common, peers
from bench.ingest import build_photos

NAME = "dedupe_speed"
RADIUS = 10
PEER_METHODS = ("bktree", "brute_force_cython", "brute_force")
GOALS = {100_000: 2.0, 1_000_000: 60.0}   # issue 21
MEMORY_GOAL_MB = 1024
CACHE_HASHES = common.CACHE_DIR / "flower_phash.npy"


def real_hashes() -> np.ndarray:
    """64-bit pHash of every shared photo, computed once into bench/.cache."""
    cache = CACHE_HASHES
    if cache.exists():
        return np.load(cache)
    import imagehash
    from PIL import Image

    values = []
    for path in common.flower_photos():
        with Image.open(path) as im:
            values.append(int(str(imagehash.phash(im.convert("RGB"))), 16))
    cache.parent.mkdir(parents=True, exist_ok=True)
    arr = np.array(values, dtype=np.uint64)
    np.save(cache, arr)
    return arr


def hash_set(size: int, seed: int = 1337) -> Path:
    """Real hashes, then 10 % planted near-duplicates (1-10 bits flipped), the rest random."""
    path = common.CACHE_DIR / f"hashes_{size}.npy"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    real = real_hashes()[:size]
    planted_n = size // 10
    random_n = size - len(real) - planted_n
    randoms = rng.integers(0, 2**64, size=random_n, dtype=np.uint64, endpoint=False)
    base = np.concatenate([real, randoms])
    sources = base[rng.integers(0, len(base), size=planted_n)]
    flips = np.zeros(planted_n, dtype=np.uint64)
    for row, k in enumerate(rng.integers(1, RADIUS + 1, size=planted_n)):
        for bit in rng.choice(64, size=k, replace=False):
            flips[row] |= np.uint64(1) << np.uint64(bit)
    values = np.concatenate([base, sources ^ flips])
    rng.shuffle(values)
    np.save(path, values)
    return path


def search_worker(path: str) -> None:
    """Child process: Harvest's index self-join at RADIUS; prints one JSON line."""
    from curation.index import HammingIndex

    hashes = np.load(path)
    start = time.perf_counter()
    index = HammingIndex(hashes.tolist(), radius_hint=RADIUS)
    built = time.perf_counter()
    if not index.compared_directly(len(index)):
        _start_compiled_code()
    started = time.perf_counter()
    pairs = index.pairs(RADIUS)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"seconds": seconds, "startup_seconds": started - built, "build_seconds": built - start,
                      "pairs": int(len(pairs)), "peak_mb": peak, "bands": index.m}))


def _start_compiled_code() -> None:
    """What the first compiled search in a process pays once, whatever its size: importing numba and
    loading the cached self-join kernel (numba's registries import scipy.linalg on the first load).
    A self-join of four hashes forced onto the kernels, so the timed search that follows reuses them."""
    from curation.index import HammingIndex

    HammingIndex(np.zeros(4, dtype=np.uint64), radius_hint=RADIUS, brute_force_cells=0).pairs(RADIUS)


def run_harvest_search(path: Path, timeout: float) -> dict:
    cmd = [common.PYTHON, "-m", "bench.dedupe_speed", "--search-worker", str(path)]
    try:
        done = subprocess.run(cmd, cwd=common.REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "detail": f"did not finish in {timeout:.0f} s"}
    if done.returncode != 0:
        return {"status": "failed", "detail": done.stderr.strip().splitlines()[-1:]}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def _hash_one(job: str):
    from curation.validate import ValidationLimits
    from curation.workers import analyse  # what curate's workers import, not the whole pipeline

    return analyse(job, ValidationLimits())


def _phash_only(job: str) -> bool:
    """Like for like with imagededup's PHash: decode (draft) and the image hashes, nothing else
    (no quality flags, crop hashes or thumbnail)."""
    from curation.hashing import image_hashes
    from curation.validate import ValidationLimits
    from curation.workers import open_for_analysis

    image, _ = open_for_analysis(Path(job.split("\0")[1]), ValidationLimits())
    return image_hashes(image) is not None


def harvest_hashing(files: list[Path], worker=_hash_one) -> dict:
    """The hashing stage as curate runs it: analyse() (decode, flags, 4 hashes, 18 crop hashes,
    thumbnail) over every core, in a spawn pool like curate's (worker start-up included, as a user
    pays it); with `worker=_phash_only`, only the decode and the image hashes."""
    jobs = [f"{n}\0{p}" for n, p in enumerate(files)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=get_context("spawn")) as pool:
        results = list(pool.map(worker, jobs, chunksize=16))
    seconds = time.perf_counter() - start
    hashed = sum(1 for r in results if r is True or getattr(r, "signature", None) is not None)
    return {"status": "ok", "seconds": seconds, "hashed": hashed, "images_per_s": len(files) / seconds}


def _cell(result: dict | None, key: str = "seconds") -> str:
    if result is None:
        return "-"
    if result["status"] == "ok":
        return f"{result[key]:.2f}"
    if "projected_seconds" in result:
        return f"not run (~{result['projected_seconds']:,.0f} projected)"
    return {"timeout": "did not finish", "skipped": "not run"}.get(result["status"], result["status"])


def _peer_search(sizes: list[int], args: argparse.Namespace) -> dict[int, dict[str, dict]]:
    out: dict[int, dict[str, dict]] = {size: {} for size in sizes}
    for method in PEER_METHODS:
        last_ok: tuple[int, float] | None = None
        failed_at: int | None = None
        for size in sizes:
            if args.no_peers:
                out[size][method] = {"status": "skipped"}
                continue
            if failed_at is not None:
                res = {"status": "skipped", "detail": f"did not finish at {failed_at:,}"}
                if method.startswith("brute") and last_ok:
                    res["projected_seconds"] = last_ok[1] * (size / last_ok[0]) ** 2
                out[size][method] = res
                continue
            res = peers.run_peer("imagededup", "imagededup_search.py", [str(hash_set(size)), str(RADIUS), method],
                                 args.peer_timeout)
            out[size][method] = res
            if res["status"] == "ok":
                last_ok = (size, res["seconds"])
            else:
                failed_at = size
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.dedupe_speed", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200 images, 10k hashes only")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peer-timeout", type=float, default=600.0, help="seconds per peer run")
    parser.add_argument("--sizes", default=None, help="comma-separated hash counts")
    parser.add_argument("--search-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.search_worker:
        search_worker(args.search_worker)
        return {}
    n_images = 200 if args.quick else 2000
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes else
             [10_000] if args.quick else [10_000, 100_000, 1_000_000])
    photos = build_photos(n_images if args.quick else 2000)
    files = sorted(photos.glob("*.jpg"))[:n_images]

    harvest_hash = harvest_hashing(files)
    harvest_phash = harvest_hashing(files, _phash_only)
    with tempfile.TemporaryDirectory(prefix="bench-hash-") as tmp:
        for f in files:
            os.symlink(f, Path(tmp) / f.name)
        peer_hash = ({"status": "skipped"} if args.no_peers else
                     peers.run_peer("imagededup", "imagededup_hash.py", [tmp, str(os.cpu_count())], args.peer_timeout))
    if peer_hash["status"] == "ok":
        peer_hash["images_per_s"] = len(files) / peer_hash["seconds"]
    hash_ratio = common.ratio(harvest_hash["images_per_s"], peer_hash.get("images_per_s"))
    like_ratio = common.ratio(harvest_phash["images_per_s"], peer_hash.get("images_per_s"))

    harvest_search = {size: run_harvest_search(hash_set(size), max(args.peer_timeout, 900)) for size in sizes}
    peer_search = _peer_search(sizes, args)
    search = {size: {"harvest": harvest_search[size], **peer_search[size]} for size in sizes}

    common.print_table(f"Hashing: {len(files)} photos of 500-1600 px, {os.cpu_count()} processes",
                       ["tool", "seconds", "images/s", "note"], [
        ["harvest analyse (decode, flags, pHash+dHash x2 orientations, 18 crop pHashes, thumbnail)",
         _cell(harvest_hash), _cell(harvest_hash, "images_per_s"), ""],
        ["harvest like for like (decode, pHash+dHash x2 orientations)", _cell(harvest_phash),
         _cell(harvest_phash, "images_per_s"), ""],
        ["imagededup PHash().encode_images", _cell(peer_hash), _cell(peer_hash, "images_per_s"),
         peer_hash.get("detail", "")],
        ["ratio harvest analyse / imagededup", "", f"{hash_ratio:.2f}x" if hash_ratio else "-", "goal >= 2x"],
        ["ratio like for like / imagededup", "", f"{like_ratio:.2f}x" if like_ratio else "-", ""],
    ])
    rows = []
    for size, row in search.items():
        h = row["harvest"]
        fastest_peer = min((r["seconds"] for m, r in row.items() if m != "harvest" and r["status"] == "ok"),
                           default=None)
        speedup = common.ratio(fastest_peer, h.get("seconds"))
        goal = GOALS.get(size)
        rows.append([f"{size:,}", _cell(h), _cell(h, "startup_seconds"),
                     f"{h['peak_mb']:.0f}" if h["status"] == "ok" else "-",
                     h.get("pairs", "-"), *[_cell(row[m]) for m in PEER_METHODS],
                     f"{speedup:.1f}x" if speedup else "-", f"<= {goal:.0f} s" if goal else ""])
    common.print_table(f"Near-duplicate search (all pairs within radius {RADIUS}), seconds; "
                       f"peer timeout {args.peer_timeout:.0f} s",
                       ["hashes", "harvest s", "of which start-up", "harvest MB", "pairs", *[f"imagededup {m}" for m in PEER_METHODS],
                        "ratio fastest peer / harvest", "goal"], rows)
    payload = {"radius": RADIUS, "images": len(files),
               "hashing": {"harvest": harvest_hash, "imagededup": peer_hash, "ratio": hash_ratio,
                           "harvest_like_for_like": harvest_phash, "ratio_like_for_like": like_ratio},
               "search": {str(k): v for k, v in search.items()}, "peer_timeout_s": args.peer_timeout,
               "goals": {"hashing_ratio": ">= 2", "100000_s": GOALS[100_000], "1000000_s": GOALS[1_000_000],
                         "peak_mb": MEMORY_GOAL_MB}}
    common.write_result(NAME, payload, ("imagededup",))
    return payload


if __name__ == "__main__":
    main()
