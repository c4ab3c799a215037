"""Duplicate judgement in a low-variance domain (issue 14): upscaled scikit-learn digits, centred
strokes on a plain background (bench/lowvariance_set.py).

1. Clean (no true duplicates): the share of images `curate` flags as duplicate or conflict
   (goal <= 1 %).
2. The same with 5 % planted copies (resize, JPEG 30-50, brightness +-15-20 %): recall = planted
   copies tied to their source (one of the two is `duplicate_of` the other, goal >= 0.95), and
   the share of the other images flagged.

`--baseline REV` also runs the Harvest of git revision REV on the same sets (before/after).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench import common
from bench.lowvariance_set import write_set

NAME = "dedupe_lowvariance"
FLAGGED = ("duplicate", "conflict")


def run_harvest(folder: Path, work: Path, repo: Path) -> tuple[pd.DataFrame, float, str]:
    """The exported manifest (file name column added), curate seconds and curate's last line."""
    ws = work / "ws"
    classes = ",".join(sorted(p.name for p in folder.iterdir() if p.is_dir()))
    common.run_cli("init", str(ws), "--classes", classes, repo=repo)
    common.run_cli("import", str(ws), str(folder), repo=repo)
    start = time.perf_counter()
    common.run_cli("curate", str(ws), "--size", "64", repo=repo)
    seconds = time.perf_counter() - start
    manifest = work / "manifest.csv"
    common.run_cli("export", str(ws), "--out", str(manifest), repo=repo)
    frame = pd.read_csv(manifest, dtype=str).fillna("")
    frame["name"] = [Path(s).name for s in frame["source"]]
    return frame, seconds, _calibration(ws)


def _calibration(ws: Path) -> str:
    import json
    import sqlite3

    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        row = conn.execute("SELECT params FROM stage_runs WHERE stage='curate' ORDER BY id DESC LIMIT 1").fetchone()
    rule = json.loads(row[0]).get("calibration", {}).get("rule") if row else None
    return (f"pHash {rule['phash_radius']} / dHash {rule['dhash_radius']} / crop {rule['crop_radius']}"
            if rule else "fixed (no calibration)")


def score_clean(frame: pd.DataFrame) -> dict:
    flagged = int(frame["status"].isin(FLAGGED).sum())
    return {"images": len(frame), "flagged": flagged, "flagged_share": flagged / len(frame),
            "status_counts": frame["status"].value_counts().to_dict()}


def score_planted(frame: pd.DataFrame, planted: dict[str, str]) -> dict:
    by_name = frame.set_index("name")
    id_of = dict(zip(frame["name"], frame["id"]))
    found = 0
    for copy, source in planted.items():
        a, b = by_name.loc[copy], by_name.loc[source]
        if a["duplicate_of"] == id_of[source] or b["duplicate_of"] == id_of[copy] or (
                a["duplicate_of"] and a["duplicate_of"] == b["duplicate_of"]):
            found += 1
    involved = set(planted) | set(planted.values())
    others = frame[~frame["name"].isin(involved)]
    flagged = int(others["status"].isin(FLAGGED).sum())
    return {"planted": len(planted), "found": found, "recall": found / len(planted) if planted else 1.0,
            "others": len(others), "others_flagged": flagged, "others_flagged_share": flagged / len(others)}


def measure(folder_clean: Path, folder_planted: Path, planted: dict[str, str], work: Path, repo: Path) -> dict:
    clean, clean_s, calibration = run_harvest(folder_clean, work / "clean", repo)
    dirty, dirty_s, _ = run_harvest(folder_planted, work / "planted", repo)
    return {"clean": {**score_clean(clean), "seconds": clean_s}, "planted": {**score_planted(dirty, planted),
            "seconds": dirty_s}, "radius": calibration}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.dedupe_lowvariance", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="60 digits per class")
    parser.add_argument("--baseline", metavar="REV", help="also run Harvest at git revision REV (before/after)")
    args = parser.parse_args(argv)
    limit = 60 if args.quick else None
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-lowvar-") as tmp:
        work = Path(tmp)
        write_set(work / "clean", 0.0, limit)
        planted = write_set(work / "planted", 0.05, limit)
        versions = [("after", common.REPO)]
        if args.baseline:
            versions.insert(0, ("before", common.baseline_checkout(args.baseline, work / "baseline")))
        for label, repo in versions:
            (work / label).mkdir()
            results[label] = measure(work / "clean", work / "planted", planted, work / label, repo)
    rows = []
    for label, r in results.items():
        name = f"harvest {label}" + (f" ({args.baseline})" if label == "before" else "")
        rows.append([name, r["radius"], f"{r['clean']['flagged']} / {r['clean']['images']} "
                     f"({r['clean']['flagged_share']:.1%})", f"{r['planted']['found']} / {r['planted']['planted']} "
                     f"({r['planted']['recall']:.3f})", f"{r['planted']['others_flagged_share']:.1%}"])
    common.print_table(f"Low-variance domain (digits, 64 px): flagged on a clean set (goal <= 1 %), recall of 5 % "
                       "planted copies (goal >= 0.95)",
                       ["tool", "radius", "clean: flagged", "planted: found", "planted: others flagged"], rows)
    payload = {**results, "goals": {"clean_flagged_share": "<= 0.01", "planted_recall": ">= 0.95"},
               "baseline": args.baseline}
    common.write_result(NAME, payload)
    return payload


if __name__ == "__main__":
    main()
