"""`python -m bench [NAME ...] [--quick] [--no-peers] [--peer-timeout S]`: runs the benchmarks
(all five by default) and prints one summary table. Results land in bench/results/*.json."""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback

from bench import (common, curate_scaling, dedupe_lowvariance, dedupe_quality, dedupe_speed, ingest, split_leakage,
                   training)

BENCHMARKS = {
    "ingest": ingest.main,
    "dedupe_speed": dedupe_speed.main,
    "dedupe_quality": dedupe_quality.main,
    "split_leakage": split_leakage.main,
    "dedupe_lowvariance": dedupe_lowvariance.main,
    "train_pipeline": training.main,
    "curate_scaling": curate_scaling.main,
}
NOT_BY_DEFAULT = ("curate_scaling",)  # 100k images: run it by name
ALIASES = {"dedupe": "dedupe_speed", "quality": "dedupe_quality", "leakage": "split_leakage",
           "split": "split_leakage", "lowvariance": "dedupe_lowvariance", "train": "train_pipeline", "training": "train_pipeline",
           "scaling": "curate_scaling"}


def _x(value: float | None) -> str:
    return f"{value:.2f}x" if value else "-"


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def summary_rows(results: dict[str, dict]) -> list[list[str]]:
    """One line per figure: what, Harvest, peer, ratio, goal, met."""
    rows: list[list[str]] = []
    r = results.get("ingest")
    if r and "harvest" in r:
        peer = r["img2dataset"]
        rows.append(["ingest images/s (vs img2dataset)", f"{r['harvest']['images_per_s']:.1f}",
                     f"{peer['images_per_s']:.1f}" if "images_per_s" in peer else peer["status"],
                     _x(r["ratio_vs_img2dataset"]), f">= {ingest.PEER_GOAL}x",
                     _met(None if r["ratio_vs_img2dataset"] is None else r["ratio_vs_img2dataset"] >= ingest.PEER_GOAL)])
        share = r["harvest"]["images_per_s"] / r["floor"]["images_per_s"]
        rows.append(["ingest vs floor (harvest img/s / floor)", f"{r['harvest']['images_per_s']:.1f}",
                     f"floor {r['floor']['images_per_s']:.1f}", f"{share:.0%}", f">= {ingest.FLOOR_SHARE_GOAL:.0%}",
                     _met(share >= ingest.FLOOR_SHARE_GOAL)])
    r = results.get("dedupe_speed")
    if r and "hashing" in r:
        h = r["hashing"]
        rows.append(["hashing images/s (vs imagededup)", f"{h['harvest']['images_per_s']:.1f}",
                     f"{h['imagededup']['images_per_s']:.1f}" if "images_per_s" in h["imagededup"] else h["imagededup"]["status"],
                     _x(h["ratio"]), ">= 2x", _met(None if h["ratio"] is None else h["ratio"] >= 2)])
        for size, row in r["search"].items():
            hv = row["harvest"]
            peers_ok = [(m, v["seconds"]) for m, v in row.items() if m != "harvest" and v["status"] == "ok"]
            best = min(peers_ok, key=lambda mv: mv[1]) if peers_ok else None
            peer_cell = f"{best[1]:.1f} s ({best[0]})" if best else "none finished"
            goal = dedupe_speed.GOALS.get(int(size))
            sec = hv.get("seconds")
            rows.append([f"search {int(size):,} hashes r=10 (s)", f"{sec:.2f}" if sec else hv["status"], peer_cell,
                         _x(common.ratio(best[1], sec)) if best and sec else "-",
                         f"<= {goal:.0f} s" if goal else "-", _met(None if not goal or not sec else sec <= goal)])
        peaks = [row["harvest"]["peak_mb"] for row in r["search"].values() if "peak_mb" in row["harvest"]]
        if peaks:
            rows.append(["search peak memory (MB)", f"{max(peaks):.0f}", "", "", f"<= {dedupe_speed.MEMORY_GOAL_MB}",
                         _met(max(peaks) <= dedupe_speed.MEMORY_GOAL_MB)])
    r = results.get("dedupe_quality")
    if r and "harvest" in r:
        h, p = r["harvest"], r["imagededup"]
        ok = h["precision"] >= 0.99 and h["recall"] >= 0.98
        rows.append(["near-dup precision / recall", f"{h['precision']:.3f} / {h['recall']:.3f}",
                     f"{p['precision']:.3f} / {p['recall']:.3f}" if "precision" in p else p.get("status", "-"),
                     "", ">= 0.99 / >= 0.98", _met(ok)])
    r = results.get("split_leakage")
    if r and "harvest" in r:
        h, p = r["harvest"], r["split_folders"]
        rows.append(["val/test leaked into train (known groups)", f"{h['leaked_known']} ({h['share_known']:.1%})",
                     f"{p['leaked_known']} ({p['share_known']:.1%})" if "leaked_known" in p else p.get("status", "-"),
                     "", "0", _met(h["leaked_known"] == 0)])
        rows.append(["val/test leaked into train (pHash <= 10)", f"{h['leaked_phash']} ({h['share_phash']:.1%})",
                     f"{p['leaked_phash']} ({p['share_phash']:.1%})" if "leaked_phash" in p else "-", "", "0",
                     _met(h["leaked_phash"] == 0)])
    r = results.get("dedupe_lowvariance")
    if r and "after" in r:
        clean, planted = r["after"]["clean"], r["after"]["planted"]
        rows.append(["low-variance clean: flagged", f"{clean['flagged_share']:.1%}", "", "", "<= 1 %",
                     _met(clean["flagged_share"] <= 0.01)])
        rows.append(["low-variance planted copies: recall", f"{planted['recall']:.3f}", "", "", ">= 0.95",
                     _met(planted["recall"] >= 0.95)])
    r = results.get("curate_scaling")
    if r and "rows" in r:
        for row in r["rows"]:
            rows.append([f"curate {row['images']:,} synthetic images (s, MB)",
                         f"{row['curate_seconds']:.1f} s, {row['curate_peak_mb']:.0f} MB", "", "", "", "-"])
        k = r["growth_exponent"]
        rows.append(["curate growth exponent / peak MB", f"{k:.2f} / {r['peak_mb']:.0f}" if k else "-", "", "",
                     f"~1 / <= {curate_scaling.MEMORY_GOAL_MB}",
                     _met(None if k is None else k <= 1.2 and r["peak_mb"] <= curate_scaling.MEMORY_GOAL_MB)])
    r = results.get("train_pipeline")
    if r:
        rows.extend(_training_rows(r))
    return rows


def _training_rows(r: dict) -> list[list[str]]:
    if r.get("status") != "ok":
        return [["training input pipeline", r.get("status", "-"), "", "", ">= 95 %", "-"]]
    share = _find(r, ("pipeline_share", "share", "ratio", "pipeline_over_memory", "ratio_pipeline_vs_memory"))
    if share is None:
        return [["training input pipeline", "see bench/results/train_pipeline.json", "", "", ">= 95 %", "-"]]
    pct = share * 100 if share <= 2 else share
    return [["training input pipeline vs in-memory", f"{pct:.1f} %", "", "", ">= 95 %", _met(pct >= 95)]]


def _find(data: dict, keys: tuple[str, ...]) -> float | None:
    for key in keys:
        if isinstance(data.get(key), (int, float)):
            return float(data[key])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="small inputs, a smoke check (~2 min)")
    parser.add_argument("--no-peers", action="store_true", help="Harvest side only (no peer venvs needed)")
    parser.add_argument("--peer-timeout", type=float, default=None,
                        help="seconds per peer run (default 600; dedupe search 120 to keep the pass ~30 min; --quick 60)")
    parser.add_argument("--install-peers", action="store_true", help="create the peer venvs first")
    args = parser.parse_args(argv)
    names = [ALIASES.get(n, n) for n in args.names] or [n for n in BENCHMARKS if n not in NOT_BY_DEFAULT]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    if args.install_peers:
        from bench import peers
        peers.main([])

    results: dict[str, dict] = {}
    timings: dict[str, float] = {}
    for name in names:
        start = time.perf_counter()
        try:
            results[name] = BENCHMARKS[name](_argv_for(name, args))
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            results[name] = {"status": "failed"}
        timings[name] = time.perf_counter() - start
    rows = summary_rows(results)
    common.print_table("Summary" + (" (quick)" if args.quick else ""),
                       ["figure", "harvest", "peer", "ratio", "goal", "met"], rows)
    print("minutes per benchmark: " + ", ".join(f"{n} {t / 60:.1f}" for n, t in timings.items()))
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    label = "summary" if len(names) == len(BENCHMARKS) else "summary_" + "_".join(names)
    (common.RESULTS_DIR / f"{label}{'_quick' if args.quick else ''}.json").write_text(
        json.dumps({"machine": common.machine_info(), "rows": rows, "minutes": {n: t / 60 for n, t in timings.items()}},
                   indent=2))
    return 1 if any(r.get("status") == "failed" for r in results.values()) else 0


def _argv_for(name: str, args: argparse.Namespace) -> list[str]:
    out = []
    if args.quick:
        out.append("--quick")
    if name in ("train_pipeline", "dedupe_lowvariance", "curate_scaling"):
        return out
    if args.no_peers:
        out.append("--no-peers")
    default = 60.0 if args.quick else (120.0 if name == "dedupe_speed" else 600.0)
    timeout = args.peer_timeout or default
    return out + ["--peer-timeout", str(timeout)]


if __name__ == "__main__":
    sys.exit(main())
