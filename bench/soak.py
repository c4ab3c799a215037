"""Soak: a background crawl job over ~20,000 URLs from a local fault server (hangs, drips, 5xx,
resets and good images), watched from outside for memory, file descriptors and threads.

    python -m bench.soak [--urls 20000] [--min-minutes 10] [--warmup 120]

Pass/fail (issue 17): RSS after warm-up grows < 15 % (peak after warm-up vs the warm-up level,
the baseline of this same run), fds and threads stay flat (no growth past their warm-up level),
every URL ends in a terminal state, `jobs logs` stays readable (exit 0, bounded size, quick).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from bench.common import PYTHON, REPO, write_result
from tests.support.fault_server import FaultServer
from workspace.layout import init_workspace

# share of URLs per route; the rest are good images served after a short delay
MIX = {"hang": 0.01, "drip": 0.01, "status": 0.03, "reset": 0.02}
GOOD_DELAY_MS = 40
RSS_GROWTH_LIMIT = 0.15


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_kb: int
    fds: int
    threads: int
    terminal: int


def tiny_jpeg(seed: int) -> bytes:
    """A distinct 24x24 JPEG per seed (so every good URL is a new image, not a duplicate)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (24, 24), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(4):
        x, y = rng.randrange(20), rng.randrange(20)
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + 4, y + 4))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def url_paths(count: int, seed: int = 17) -> list[str]:
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        roll, route = rng.random(), "good"
        for name, share in MIX.items():
            if roll < share:
                route = name
                break
            roll -= share
        paths.append({"good": f"/slow/{i}.jpg?ms={GOOD_DELAY_MS}", "hang": f"/hang/{i}.jpg",
                      "drip": f"/drip/{i}.jpg", "status": f"/status/{rng.choice((500, 502, 503))}?n={i}",
                      "reset": f"/reset/{i}.jpg"}[route])
    return paths


def process_sample(pid: int, started: float, terminal: int) -> Sample | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields:  # exited, not yet reaped
        return None
    return Sample(round(time.monotonic() - started, 1), int(fields["VmRSS"].split()[0]), fds,
                  int(fields["Threads"]), terminal)


def job_logs(ws: Path) -> dict:
    began = time.monotonic()
    result = subprocess.run([PYTHON, str(REPO / "cli.py"), "jobs", "logs", str(ws), "1"],
                            capture_output=True, text=True, timeout=120)
    return {"exit": result.returncode, "seconds": round(time.monotonic() - began, 2),
            "lines": len(result.stdout.splitlines()), "bytes": len(result.stdout),
            "last_line": (result.stdout.strip().splitlines() or [""])[-1][:200]}


def counts(ws: Path) -> dict[str, int]:
    with sqlite3.connect(ws / "catalog.sqlite", timeout=60) as conn:
        return dict(conn.execute("SELECT status, COUNT(*) FROM candidates GROUP BY status").fetchall())


def run(url_count: int, warmup: float, interval: float = 5.0, workers: int = 8) -> dict:
    """Start the job, sample it until it ends, and return the figures (see module doc)."""
    paths = url_paths(url_count)
    images = {f"{i}.jpg": tiny_jpeg(i) for i, p in enumerate(paths) if p.startswith(("/slow/", "/reset/"))}
    with tempfile.TemporaryDirectory(prefix="harvest-soak-") as tmp, FaultServer(images=images) as server:
        ws = Path(tmp) / "ws"
        init_workspace(ws, ["a"])
        url_file = Path(tmp) / "urls.txt"
        url_file.write_text("".join(server.url(p) + "\n" for p in paths))
        load_before = os.getloadavg()
        started = time.monotonic()
        subprocess.run([PYTHON, str(REPO / "cli.py"), "crawl", str(ws), "--urls", str(url_file), "--class", "a",
                        "--allow-private", "--workers", str(workers), "--timeout", "2", "--deadline", "5",
                        "--detach"], check=True, capture_output=True, timeout=120)
        with sqlite3.connect(ws / "catalog.sqlite", timeout=60) as conn:
            pid = conn.execute("SELECT pid FROM jobs WHERE id = 1").fetchone()[0]
        samples: list[Sample] = []
        mid_logs = None
        while True:
            by_status = counts(ws)
            terminal = sum(v for k, v in by_status.items() if k != "pending")
            sample = process_sample(pid, started, terminal)
            if sample is None:
                break
            samples.append(sample)
            if mid_logs is None and sample.seconds > warmup:
                mid_logs = job_logs(ws)
            time.sleep(interval)
        elapsed = time.monotonic() - started
        with sqlite3.connect(ws / "catalog.sqlite", timeout=60) as conn:
            state = conn.execute("SELECT state, message FROM jobs WHERE id = 1").fetchone()
            reasons = dict(conn.execute("SELECT COALESCE(reason, status), COUNT(*) FROM candidates"
                                        " GROUP BY 1").fetchall())
        return summarise(samples, warmup, elapsed, counts(ws), reasons, state, mid_logs, job_logs(ws),
                         url_count, load_before, os.getloadavg())


def summarise(samples: list[Sample], warmup: float, elapsed: float, by_status: dict[str, int],
              reasons: dict[str, int], state: tuple, mid_logs: dict | None, end_logs: dict,
              url_count: int, load_before: tuple, load_after: tuple) -> dict:
    # after warm-up, while work remains (the pool winds down once the last URL is done)
    after = [s for s in samples if s.seconds >= warmup and s.terminal < url_count] or samples[-1:]
    base = after[0]
    peak_rss = max(s.rss_kb for s in after)
    growth = peak_rss / base.rss_kb - 1
    terminal = sum(v for k, v in by_status.items() if k != "pending")
    checks = {
        "ran_at_least_10_minutes": elapsed >= 600,
        "rss_growth_below_15pct": growth < RSS_GROWTH_LIMIT,
        # a leak grows; the download threads ending one by one as the last URLs finish only shrink
        "fds_flat": max(s.fds for s in after) - base.fds <= 8,
        "threads_flat": max(s.threads for s in after) - base.threads <= 4,
        "every_url_terminal": terminal == url_count and by_status.get("pending", 0) == 0,
        "job_done": state[0] == "done",
        "logs_readable": end_logs["exit"] == 0 and (mid_logs or end_logs)["exit"] == 0
                         and end_logs["seconds"] < 10,
    }
    return {
        "urls": url_count, "mix": MIX, "good_delay_ms": GOOD_DELAY_MS, "elapsed_s": round(elapsed, 1),
        "warmup_s": warmup, "rss_kb_at_warmup": base.rss_kb, "rss_kb_peak_after_warmup": peak_rss,
        "rss_kb_final": samples[-1].rss_kb, "rss_growth_ratio": round(growth, 4),
        "fds_after_warmup": [min(s.fds for s in after), max(s.fds for s in after)],
        "threads_after_warmup": [min(s.threads for s in after), max(s.threads for s in after)],
        "urls_per_s": round(terminal / elapsed, 1), "by_status": by_status, "by_reason": reasons,
        "job": {"state": state[0], "message": state[1]}, "logs_mid": mid_logs, "logs_end": end_logs,
        "load_before": load_before, "load_after": load_after, "checks": checks, "passed": all(checks.values()),
        "samples": [asdict(s) for s in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=20_000)
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before the RSS baseline")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args(argv)
    result = run(args.urls, args.warmup, workers=args.workers)
    path = write_result("soak", result)
    shown = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(shown, indent=1))
    print(f"RSS growth after warm-up: {result['rss_growth_ratio']:.1%} (limit {RSS_GROWTH_LIMIT:.0%}); "
          f"{'PASSED' if result['passed'] else 'FAILED'}; written to {path}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
