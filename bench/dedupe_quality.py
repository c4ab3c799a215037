"""Near-duplicate quality: precision and recall of Harvest (`import` + `curate`, then
`duplicate_of` from `export`) against imagededup's PHash at its default threshold, on a set of
shared photos with known transformed copies (resize, JPEG 30, crop 3-10 %, crop 10-15 %,
brightness +-20 %, text overlay, horizontal flip, grayscale) plus unrelated singletons.
`--baseline REV` also runs the Harvest of git revision REV on the same set (before/after).

Scored on pairs (image, kept copy): each tool names, for every image it drops as a duplicate,
the copy it keeps. A pair is correct when both are in the same known group. Precision = correct
pairs / pairs named; recall = correct pairs / (group size - 1 summed over groups), i.e. every
copy but one per group should be dropped in favour of a member of its own group.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench import common, peers
from bench.transforms import TRANSFORMS, distinct_sources, open_upright, write_group

NAME = "dedupe_quality"
THRESHOLD = 10


def build_set(folder: Path, groups: int, singletons: int) -> dict[str, str]:
    """Writes folder/photos/*.jpg; returns file name -> group id."""
    rng = random.Random(1337)
    sources = distinct_sources(groups + singletons)
    out = folder / "photos"
    out.mkdir(parents=True)
    truth: dict[str, str] = {}
    for n, source in enumerate(sources):
        stem = f"g{n:04d}"
        if n < groups:
            files = write_group(source, out, stem, rng)
        else:
            files = [out / f"{stem}_single.jpg"]
            open_upright(source).save(files[0], "JPEG", quality=92)
        for f in files:
            truth[f.name] = stem
    return truth


def score(pairs: list[tuple[str, str]], truth: dict[str, str]) -> dict:
    sizes: dict[str, int] = {}
    for group in truth.values():
        sizes[group] = sizes.get(group, 0) + 1
    expected = sum(s - 1 for s in sizes.values())
    correct = sum(1 for image, kept in pairs if truth.get(image) == truth.get(kept))
    precision = correct / len(pairs) if pairs else 1.0
    recall = correct / expected if expected else 1.0
    return {"pairs_named": len(pairs), "pairs_correct": correct, "pairs_expected": expected,
            "precision": precision, "recall": recall}


def run_harvest(folder: Path, work: Path, repo: Path = common.REPO) -> dict:
    ws = work / "ws"
    common.run_cli("init", str(ws), "--classes", "photos", repo=repo)
    start = time.perf_counter()
    common.run_cli("import", str(ws), str(folder), repo=repo)
    common.run_cli("curate", str(ws), "--size", "64", "--threshold", str(THRESHOLD), repo=repo)
    seconds = time.perf_counter() - start
    manifest = work / "manifest.csv"
    common.run_cli("export", str(ws), "--out", str(manifest), repo=repo)
    frame = pd.read_csv(manifest, dtype=str).fillna("")
    name_of = {row["id"]: Path(row["source"]).name for _, row in frame.iterrows()}
    pairs = [(name_of[row["id"]], name_of.get(row["duplicate_of"], "?"))
             for _, row in frame.iterrows() if row["duplicate_of"]]
    return {"seconds": seconds, "pairs": pairs, "status_counts": frame["status"].value_counts().to_dict()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.dedupe_quality", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="12 groups + 12 singletons")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peer-timeout", type=float, default=600.0)
    parser.add_argument("--baseline", metavar="REV", help="also run Harvest at git revision REV (before/after)")
    args = parser.parse_args(argv)
    groups, singletons = (12, 12) if args.quick else (150, 300)

    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        work = Path(tmp)
        truth = build_set(work / "set", groups, singletons)
        before = None
        if args.baseline:
            (work / "before").mkdir()
            repo = common.baseline_checkout(args.baseline, work / "baseline")
            before = run_harvest(work / "set", work / "before", repo)
            before = {**score(before["pairs"], truth), "seconds": before["seconds"], "revision": args.baseline,
                      "pairs": before["pairs"], "status_counts": before["status_counts"]}
        harvest = run_harvest(work / "set", work)
        h_score = score(harvest["pairs"], truth)
        peer = ({"status": "skipped"} if args.no_peers else
                peers.run_peer("imagededup", "imagededup_quality.py", [str(work / "set" / "photos")], args.peer_timeout))
        p_score = score([tuple(p) for p in peer["pairs"]], truth) if peer["status"] == "ok" else None

    def misses(pairs: list[tuple[str, str]]) -> dict[str, int]:
        """Which transforms the tool failed to tie to their group, for the note."""
        found = {image for image, kept in pairs if truth.get(image) == truth.get(kept)}
        found |= {kept for image, kept in pairs if truth.get(image) == truth.get(kept)}
        out: dict[str, int] = {}
        for name, group in truth.items():
            kind = name.split("_", 1)[1].removesuffix(".jpg")
            if kind != "single" and name not in found:
                out[kind] = out.get(kind, 0) + 1
        return out

    rows = [["harvest import + curate", f"{h_score['precision']:.3f}", f"{h_score['recall']:.3f}",
             h_score["pairs_named"], f"{harvest['seconds']:.1f}"]]
    if before:
        rows.insert(0, [f"harvest before ({args.baseline})", f"{before['precision']:.3f}", f"{before['recall']:.3f}",
                        before["pairs_named"], f"{before['seconds']:.1f}"])
    if p_score:
        rows.append([f"imagededup PHash (threshold {THRESHOLD})", f"{p_score['precision']:.3f}",
                     f"{p_score['recall']:.3f}", p_score["pairs_named"], f"{peer['seconds']:.1f}"])
        rows.append(["difference harvest - imagededup", f"{h_score['precision'] - p_score['precision']:+.3f}",
                     f"{h_score['recall'] - p_score['recall']:+.3f}", "", ""])
    else:
        rows.append(["imagededup PHash", peer["status"], peer.get("detail", ""), "", ""])
    common.print_table(f"Near-duplicate quality: {groups} groups x {1 + len(TRANSFORMS)} + {singletons} singletons "
                       f"= {len(truth)} images; pairs (image, kept copy); goal precision >= 0.99, recall >= 0.98",
                       ["tool", "precision", "recall", "pairs named", "seconds"], rows)
    payload = {"images": len(truth), "groups": groups, "singletons": singletons, "threshold": THRESHOLD,
               "transforms": list(TRANSFORMS), "definition": __doc__.split("Scored on", 1)[1].strip(),
               "harvest": {**h_score, "seconds": harvest["seconds"], "missed_by_transform": misses(harvest["pairs"]),
                           "status_counts": harvest["status_counts"]},
               "imagededup": ({**p_score, "seconds": peer["seconds"], "missed_by_transform": misses([tuple(p) for p in peer["pairs"]])}
                              if p_score else peer),
               "goals": {"precision": ">= 0.99", "recall": ">= 0.98 (crops included)"}}
    if before:
        payload["before"] = {**{k: v for k, v in before.items() if k != "pairs"},
                             "missed_by_transform": misses(before["pairs"])}
        print(f"missed by transform before: {payload['before']['missed_by_transform']}")
    print(f"missed by transform: harvest {payload['harvest']['missed_by_transform']}"
          + (f"; imagededup {payload['imagededup']['missed_by_transform']}" if p_score else ""))
    common.write_result(NAME, payload, ("imagededup",))
    return payload


if __name__ == "__main__":
    main()
