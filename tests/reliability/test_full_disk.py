"""A full disk (a write that fails) stops the job with one clear line; a resume completes it."""

from __future__ import annotations

import io
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import REPO
from tests.reliability.test_bad_inputs import check_consistent
from tests.support.fault_server import FaultServer
from workspace.layout import init_workspace

LIMIT = 150_000  # bytes any one file may grow to in the limited process


def big_jpeg(seed: int) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 255, (400, 400, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_failed_writes_stop_cleanly_and_resume_completes(tmp_path: Path) -> None:
    images = {f"{i}.jpg": big_jpeg(i) for i in range(3)}
    images.update({f"small{i}.jpg": _small(i) for i in range(3)})
    assert all(len(v) > LIMIT for k, v in images.items() if not k.startswith("small"))
    with FaultServer(images=images) as server:
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(server.url(f"/ok/{name}") + "\n" for name in sorted(images)))
        ws = tmp_path / "ws"
        init_workspace(ws, ["a"])
        argv = [sys.executable, str(REPO / "cli.py"), "crawl", str(ws), "--urls", str(urls), "--class", "a",
                "--allow-private", "--workers", "1"]
        limited = subprocess.run(argv, capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size)
        assert limited.returncode == 1, limited.stdout + limited.stderr
        lines = [line for line in limited.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in limited.stderr, limited.stderr
        assert "cannot write" in lines[0] or "full" in lines[0] or "File too large" in lines[0], lines[0]
        resumed = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM images WHERE status = 'stored'").fetchone()[0] == len(images)
    check_consistent(ws)


def _small(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), ((seed * 70) % 256, 40, 90)).save(buffer, "JPEG")
    return buffer.getvalue()
