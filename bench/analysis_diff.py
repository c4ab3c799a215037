"""What an analysis change changes: images analysed by a baseline revision (exported with `git
archive`) and by this tree, compared image by image. Three sets: every shared photo, analysed as
curate does (`analyse`, curate's limits); the bench's 2,000 ingest photos, checked as ingest does
(`check_download` with a 256 px output cached: its info, analysis and the cached file's bytes);
and a few generated edge cases (flat, dark, grey, alpha, palette, 16-bit, EXIF-rotated, CMYK,
tiny, very wide or tall) through both. For ANALYSIS_VERSION bumps (issue 21, stop 25: the
grey-first analysis copy) and for changes that must change nothing (stop 26: faster analysis).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench import common
from bench.ingest import build_photos
from bench.speed_before_after import run_script

NAME = "analysis_diff"
IMAGE_HASHES = ("phash", "phash_flip", "dhash", "dhash_flip")

ANALYSE = """
import hashlib, json, sys
from pathlib import Path
from curation.ingest_analysis import check_download
from curation.resize import ResizeSpec
from curation.validate import ValidationLimits
from curation.workers import analyse

def record(a):
    s = a.signature
    return {"reason": a.reason, "flags": sorted(a.flags), "size": a.size and list(a.size), "frames": a.frames,
            "hashes": [s.hashes.phash, s.hashes.phash_flip, s.hashes.dhash, s.hashes.dhash_flip] if s else None,
            "crop": s.crop_hashes if s else None, "thumb": s.thumb.hex() if s else None}

def checked(path, cache):
    c = check_download(str(path), "x", str(cache), 10**9, ResizeSpec(256))
    return {"reason": c.reason, "info": repr(c.info), "analysis": record(c.analysis) if c.analysis else None,
            "output": hashlib.sha256(cache.read_bytes()).hexdigest() if cache.exists() else None}

flowers, photos, edge, out, cache = (Path(p) for p in sys.argv[1:6])
result = {"flowers": {}, "photos": {}, "edge": {}}
for path in sorted(flowers.glob("*/*.jpg")):
    result["flowers"][f"{path.parent.name}/{path.name}"] = record(analyse(f"x\\0{path}", ValidationLimits()))
for n, path in enumerate(sorted(photos.glob("*.jpg"))):
    result["photos"][path.name] = checked(path, cache / f"p{n}.jpg")
for n, path in enumerate(sorted(edge.iterdir())):
    result["edge"][path.name] = {"curate": record(analyse(f"x\\0{path}", ValidationLimits())),
                                 "ingest": checked(path, cache / f"e{n}.jpg")}
out.write_text(json.dumps(result))
print(json.dumps({name: len(v) for name, v in result.items()}))
"""


def make_edge_cases(folder: Path) -> Path:
    """Small generated images that take analysis' less common paths (modes, flags, sizes)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(26)
    photo = Image.open(common.flower_photos(1)[0]).convert("RGB")
    noise = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), "RGB")
    Image.new("RGB", (300, 200), (120, 60, 30)).save(folder / "flat.png")
    Image.new("RGB", (300, 200), (5, 5, 5)).save(folder / "dark.jpg")
    Image.new("RGB", (300, 200), (250, 250, 250)).save(folder / "light.jpg")
    photo.convert("L").save(folder / "grey.jpg")
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    photo.convert("P").save(folder / "palette.gif")
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.fromarray(rng.integers(0, 256, photo.size[::-1], dtype=np.uint8), "L"))
    rgba.save(folder / "alpha.png")
    Image.fromarray((rng.integers(0, 65536, (150, 200))).astype(np.uint16)).save(folder / "deep.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 270 on display
    photo.save(folder / "rotated.jpg", exif=exif)
    noise.save(folder / "noise.png")
    noise.resize((40, 40)).save(folder / "tiny.png")
    noise.resize((60, 600)).save(folder / "tall.jpg")
    noise.resize((900, 100)).save(folder / "wide.jpg")
    photo.resize((photo.width * 5, photo.height * 5)).save(folder / "big.png")  # shrunk by a reduce first
    photo.filter(ImageFilter.GaussianBlur(4)).save(folder / "blurred.jpg")
    return folder


def bits(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def compare(before: dict, after: dict) -> dict:
    """Per image hash, the histogram of bits changed; crop hashes' total bits changed over the
    boxes; thumbnails' largest grey-level change; flags gained and lost; reasons that differ."""
    hashes = {name: Counter() for name in IMAGE_HASHES}
    crops, thumb_levels, flags, reasons, any_hash = Counter(), Counter(), Counter(), [], 0
    for name, old in before.items():
        new = after[name]
        if old["reason"] != new["reason"]:
            reasons.append([name, old["reason"], new["reason"]])
        if old["hashes"] is None or new["hashes"] is None:
            continue
        changed = [bits(a, b) for a, b in zip(old["hashes"], new["hashes"])]
        any_hash += any(changed)
        for hash_name, count in zip(IMAGE_HASHES, changed):
            hashes[hash_name][count] += 1
        crops[sum(bits(old["crop"][k:k + 16], new["crop"][k:k + 16]) for k in range(0, len(old["crop"]), 16))] += 1
        thumb_levels[max(abs(a - b) for a, b in zip(bytes.fromhex(old["thumb"]), bytes.fromhex(new["thumb"])))] += 1
        for flag in set(old["flags"]) ^ set(new["flags"]):
            flags[f"{flag} {'gained' if flag in new['flags'] else 'lost'}: {name}"] += 1
    return {"images": len(before), "images_with_an_image_hash_changed": any_hash,
            "bits_changed": {k: dict(sorted(v.items())) for k, v in hashes.items()},
            "crop_bits_changed_over_all_boxes": dict(sorted(crops.items())),
            "thumb_largest_level_change": dict(sorted(thumb_levels.items())),
            "flag_changes": dict(flags), "reason_changes": reasons}


def differing(before: dict, after: dict) -> list[str]:
    """The images whose whole record (every field, the cached output's bytes) is not identical."""
    return sorted(name for name in before if before[name] != after.get(name))


def fields_differing(before: dict, after: dict) -> dict[str, int]:
    """Per field of the records (info, analysis, output...), how many images differ in it."""
    counts: Counter = Counter()
    for name, old in before.items():
        new = after.get(name) or {}
        counts.update(field for field in old if old[field] != new.get(field))
    return dict(counts)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.analysis_diff", description=__doc__)
    parser.add_argument("--baseline", default="main", help="git revision analysed as 'before'")
    args = parser.parse_args(argv)
    results = {}
    photos = build_photos(2000)
    with tempfile.TemporaryDirectory(prefix="bench-analysis-diff-") as tmp:
        edge = make_edge_cases(Path(tmp) / "edge")
        trees = {"before": common.baseline_checkout(args.baseline, Path(tmp) / "before"), "after": common.REPO}
        for side, repo in trees.items():
            out, cache = Path(tmp) / f"{side}.json", Path(tmp) / f"cache-{side}"
            cache.mkdir()
            run_script(repo, ANALYSE, [str(common.FLOWERS), str(photos), str(edge), str(out), str(cache)])
            results[side] = json.loads(out.read_text())
    diff = compare(results["before"]["flowers"], results["after"]["flowers"])
    rows = [[name, sum(v for k, v in hist.items() if k), max(hist), str(hist)]
            for name, hist in diff["bits_changed"].items()]
    crop = diff["crop_bits_changed_over_all_boxes"]
    rows.append(["crop hashes (18 boxes)", sum(v for k, v in crop.items() if k), max(crop), str(crop)])
    thumbs = diff["thumb_largest_level_change"]
    rows.append(["thumb (largest grey-level change)", sum(v for k, v in thumbs.items() if k), max(thumbs), str(thumbs)])
    common.print_table(f"Analysis {args.baseline} -> this tree, {diff['images']} shared photos "
                       f"({diff['images_with_an_image_hash_changed']} with an image hash changed)",
                       ["what", "images changed", "most bits", "images by bits changed"], rows)
    print("flag changes:", diff["flag_changes"] or "none", "| reason changes:", diff["reason_changes"] or "none")
    not_identical = {name: differing(results["before"][name], results["after"][name]) for name in results["before"]}
    for name, names in not_identical.items():
        fields = fields_differing(results["before"][name], results["after"][name])
        print(f"{name}: {len(results['before'][name])} images, {len(names)} not identical"
              f"{' (' + ', '.join(names[:10]) + ')' if names else ''}{f'; fields differing: {fields}' if fields else ''}")
    payload = {"baseline": args.baseline, **diff, "not_identical": not_identical}
    common.write_result(NAME, payload)
    return payload


if __name__ == "__main__":
    main()
