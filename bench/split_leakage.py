"""Split leakage: share of val/test images that have a near-duplicate in train, split-folders
`ratio(seed=1337)` against Harvest `curate` (same 0.8/0.1/0.1 ratios, same seed), on the shared
photos plus planted near-duplicate copies (one transformed copy of some photos, same class).

`--baseline REV` also runs the Harvest of git revision REV on the same set (before/after).

Two judges: the known groups (a planted copy and its source; files with the same bytes), and an
independent pHash check (imagehash pHash within 10 bits, which also catches real burst shots).
"""
from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench import common, peers
from bench.transforms import TRANSFORMS, open_upright

NAME = "split_leakage"
SPLITS = ("train", "val", "test")


def build_set(folder: Path, per_class: int | None, planted: int) -> dict[str, str]:
    """folder/<class>/*.jpg: photos (copied as they are) and planted copies; name -> group id."""
    rng = random.Random(1337)
    photos = common.flower_photos()
    if per_class:
        photos = photos[:per_class * 5]
    by_sha: dict[str, str] = {}
    truth: dict[str, str] = {}
    for photo in photos:
        dest = folder / common.class_of(photo) / photo.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(photo, dest)
        sha = hashlib.sha256(dest.read_bytes()).hexdigest()
        truth[photo.name] = by_sha.setdefault(sha, photo.stem)
    names = list(TRANSFORMS)
    for n, photo in enumerate(rng.sample(photos, planted)):
        kind = names[n % len(names)]
        copy = TRANSFORMS[kind](open_upright(photo), rng)
        name = f"planted_{n:04d}_{kind}.jpg"
        copy.save(folder / common.class_of(photo) / name, "JPEG", quality=30 if kind == "jpeg30" else 90)
        truth[name] = truth[photo.name]
    return truth


def phashes(folder: Path) -> dict[str, int]:
    import imagehash
    from PIL import Image

    out = {}
    for path in sorted(folder.rglob("*.jpg")):
        with Image.open(path) as im:
            out[path.name] = int(str(imagehash.phash(im.convert("RGB"))), 16)
    return out


def leakage(assign: dict[str, str], truth: dict[str, str], hashes: dict[str, int]) -> dict:
    """assign: file name -> split, for the images the tool put into a split."""
    train = [n for n, s in assign.items() if s == "train"]
    held = [n for n, s in assign.items() if s in ("val", "test")]
    train_groups = {truth[n] for n in train}
    leaked = sorted(n for n in held if truth[n] in train_groups)
    by_group = len(leaked)
    train_h = np.array([hashes[n] for n in train], dtype=np.uint64)
    by_hash = 0
    for n in held:
        if train_h.size and int(np.bitwise_count(train_h ^ np.uint64(hashes[n])).min()) <= 10:
            by_hash += 1
    return {"held_out": len(held), "train": len(train), "leaked_known": by_group, "leaked_phash": by_hash,
            "leaked_names": leaked, "share_known": by_group / len(held) if held else 0.0, "share_phash": by_hash / len(held) if held else 0.0}


def run_harvest(folder: Path, work: Path, repo: Path = common.REPO) -> dict[str, str]:
    ws = work / "ws"
    classes = ",".join(sorted(p.name for p in folder.iterdir() if p.is_dir()))
    common.run_cli("init", str(ws), "--classes", classes, repo=repo)
    common.run_cli("import", str(ws), str(folder), repo=repo)
    common.run_cli("curate", str(ws), "--size", "64", "--split", "0.8,0.1,0.1", "--seed", "1337", repo=repo)
    manifest = work / "manifest.csv"
    common.run_cli("export", str(ws), "--out", str(manifest), repo=repo)
    frame = pd.read_csv(manifest, dtype=str).fillna("")
    return {Path(r["source"]).name: r["split"] for _, r in frame.iterrows() if r["split"] in SPLITS}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.split_leakage", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 photos per class + 20 planted copies")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peer-timeout", type=float, default=600.0)
    parser.add_argument("--baseline", metavar="REV", help="also run Harvest at git revision REV (before/after)")
    args = parser.parse_args(argv)
    per_class, planted = (20, 20) if args.quick else (None, 300)

    with tempfile.TemporaryDirectory(prefix="bench-leak-") as tmp:
        work = Path(tmp)
        folder = work / "set"
        truth = build_set(folder, per_class, planted)
        hashes = phashes(folder)
        before = None
        if args.baseline:
            (work / "before").mkdir()
            repo = common.baseline_checkout(args.baseline, work / "baseline")
            before = leakage(run_harvest(folder, work / "before", repo), truth, hashes)
        harvest = leakage(run_harvest(folder, work), truth, hashes)
        peer_run = ({"status": "skipped"} if args.no_peers else
                    peers.run_peer("split-folders", "splitfolders_run.py", [str(folder), str(work / "sf")],
                                   args.peer_timeout))
        peer = leakage(peer_run["assign"], truth, hashes) if peer_run["status"] == "ok" else peer_run

    rows = [["harvest curate (seed 1337)", harvest["train"], harvest["held_out"],
             f"{harvest['leaked_known']} ({harvest['share_known']:.1%})",
             f"{harvest['leaked_phash']} ({harvest['share_phash']:.1%})"]]
    if before:
        rows.insert(0, [f"harvest before ({args.baseline})", before["train"], before["held_out"],
                        f"{before['leaked_known']} ({before['share_known']:.1%})",
                        f"{before['leaked_phash']} ({before['share_phash']:.1%})"])
    if peer_run["status"] == "ok":
        rows.append(["split-folders ratio(seed=1337)", peer["train"], peer["held_out"],
                     f"{peer['leaked_known']} ({peer['share_known']:.1%})",
                     f"{peer['leaked_phash']} ({peer['share_phash']:.1%})"])
        rows.append(["leaked images, split-folders vs harvest", "", "",
                     f"{peer['leaked_known']} vs {harvest['leaked_known']}",
                     f"{peer['leaked_phash']} vs {harvest['leaked_phash']}"])
    else:
        rows.append(["split-folders", peer_run["status"], peer_run.get("detail", ""), "", ""])
    common.print_table(f"Split leakage: {len(truth)} images ({planted} planted copies), 0.8/0.1/0.1; "
                       "val/test images with a near-duplicate in train (goal 0)",
                       ["tool", "train", "val+test", "leaked: known groups", "leaked: pHash <= 10"], rows)
    payload = {"images": len(truth), "planted": planted, "harvest": harvest, "split_folders": peer,
               "judges": {"known": "planted copy + its source, identical bytes",
                          "phash": "imagehash pHash within 10 bits of any train image"},
               "goal": "0 leaked"}
    if before:
        payload["before"] = {**before, "revision": args.baseline}
    common.write_result(NAME, payload, ("split-folders",))
    return payload


if __name__ == "__main__":
    main()
