"""Shared plumbing for the benchmark scripts: machine info, result files, tables, photo lists,
a quiet local HTTP server, and running the Harvest CLI in a subprocess."""
from __future__ import annotations

import http.server
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import peers

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
RESULTS_DIR = Path(os.environ.get("HARVEST_BENCH_RESULTS", BENCH_DIR / "results"))
CACHE_DIR = BENCH_DIR / ".cache"
FLOWERS = Path(os.environ.get("HARVEST_FLOWERS", REPO.parent / "shared" / "data" / "flowers"))
PYTHON = sys.executable


def machine_info(peer_names: tuple[str, ...] = ()) -> dict:
    """Cores, python and library versions, so a figure can be read against its machine."""
    from importlib import metadata

    libs = {}
    for dist in ("pillow", "numpy", "imagehash", "requests"):
        try:
            libs[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {
        "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
        "cpu": _cpu_model(), "harvest_libs": libs,
        "peers": {name: peers.versions(name) for name in peer_names},
        "load_average": os.getloadavg(),
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_result(name: str, payload: dict, peer_names: tuple[str, ...] = ()) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "machine": machine_info(peer_names), **payload}
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """A plain fixed-width table; the last row is meant to be the ratio."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n== {title}")
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def flower_photos(limit: int | None = None) -> list[Path]:
    """The shared real photos, in a stable order (sorted per class, classes interleaved)."""
    if not FLOWERS.is_dir():
        raise SystemExit(f"shared photos not found: {FLOWERS}")
    per_class = [sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
                 for d in sorted(FLOWERS.iterdir()) if d.is_dir()]
    out = [p for group in zip(*per_class) for p in group]
    return out[:limit] if limit else out


def class_of(photo: Path) -> str:
    return photo.parent.name


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the web's servers and CDNs answer
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 from a background thread; yields the base URL."""
    handler = lambda *a, **k: _QuietHandler(*a, directory=str(folder), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_cli(*args: str, timeout: float = 1800, repo: Path = REPO) -> float:
    """Run `python cli.py ARGS` quietly (from `repo`, e.g. a baseline checkout); returns wall
    seconds, raises on failure."""
    start = time.perf_counter()
    done = subprocess.run([PYTHON, str(repo / "cli.py"), "-q", *args], cwd=repo, capture_output=True,
                          text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"cli.py {' '.join(args)} failed: {(done.stderr or done.stdout).strip()[-800:]}")
    return elapsed


def baseline_checkout(revision: str, dest: Path) -> Path:
    """The tree of `revision` (e.g. the main branch before a change) exported into `dest`, so a
    benchmark can run before and after in the same run without touching any worktree."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def ratio(a: float | None, b: float | None) -> float | None:
    if not a or not b:
        return None
    return a / b
