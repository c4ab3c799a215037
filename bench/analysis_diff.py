"""What an analysis version changes: every shared photo analysed by a baseline revision (exported
with `git archive`) and by this tree, compared image by image: how many images' hashes change
and by how many bits, crop hashes, thumbnails, flags, reasons. For ANALYSIS_VERSION bumps
(issue 21, stop 25: the grey-first analysis copy).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

from bench import common
from bench.speed_before_after import run_script

NAME = "analysis_diff"
IMAGE_HASHES = ("phash", "phash_flip", "dhash", "dhash_flip")

ANALYSE = """
import json, sys
from pathlib import Path
from curation.validate import ValidationLimits
from curation.workers import analyse

out = {}
for path in sorted(Path(sys.argv[1]).glob("*/*.jpg")):
    a = analyse(f"x\\0{path}", ValidationLimits())
    s = a.signature
    out[f"{path.parent.name}/{path.name}"] = {
        "reason": a.reason, "flags": sorted(a.flags),
        "hashes": [s.hashes.phash, s.hashes.phash_flip, s.hashes.dhash, s.hashes.dhash_flip] if s else None,
        "crop": s.crop_hashes if s else None, "thumb": s.thumb.hex() if s else None}
Path(sys.argv[2]).write_text(json.dumps(out))
print(json.dumps({"images": len(out)}))
"""


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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.analysis_diff", description=__doc__)
    parser.add_argument("--baseline", default="main", help="git revision analysed as 'before'")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-analysis-diff-") as tmp:
        trees = {"before": common.baseline_checkout(args.baseline, Path(tmp) / "before"), "after": common.REPO}
        for side, repo in trees.items():
            out = Path(tmp) / f"{side}.json"
            run_script(repo, ANALYSE, [str(common.FLOWERS), str(out)])
            results[side] = json.loads(out.read_text())
    diff = compare(results["before"], results["after"])
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
    payload = {"baseline": args.baseline, **diff}
    common.write_result(NAME, payload)
    return payload


if __name__ == "__main__":
    main()
