"""One writer per stage: a second writer waits (saying so) or refuses under --no-wait, a killed
holder never leaves a stale lock, and readers never block."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO, make_jpeg
from workspace.layout import init_workspace
from workspace.lock import LockBusy, lock_path, writer_lock

HOLD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from workspace.layout import open_workspace
from workspace.lock import writer_lock
with writer_lock(open_workspace(sys.argv[2]), sys.argv[3]):
    print("held", flush=True)
    time.sleep(600)
"""


def cli(*args: object) -> list[str]:
    return [sys.executable, str(REPO / "cli.py"), *map(str, args)]


def hold_lock(ws: Path, stage: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(REPO), str(ws), stage], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_no_wait_refuses_with_one_line_naming_the_holder(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    holder = hold_lock(ws.root, "curate")
    try:
        with pytest.raises(LockBusy, match=rf"another curate is running .*pid {holder.pid}"):
            with writer_lock(ws, "curate", wait=False):
                pass
        with writer_lock(ws, "import", wait=False):  # other stages are not blocked
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    holder = hold_lock(ws.root, "curate")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert lock_path(ws, "curate").exists()
    with writer_lock(ws, "curate", wait=False):
        pass


def test_a_waiting_writer_says_why_and_proceeds_when_the_holder_ends(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    holder = hold_lock(ws.root, "import")
    messages: list[str] = []
    started = time.monotonic()

    def on_wait(message: str) -> None:
        messages.append(message)
        subprocess.Popen(["sh", "-c", f"sleep 1; kill {holder.pid}"])

    with writer_lock(ws, "import", on_wait=on_wait):
        waited = time.monotonic() - started
    holder.wait()
    assert len(messages) == 1 and "waiting" in messages[0] and f"pid {holder.pid}" in messages[0]
    assert waited >= 0.9


def test_readers_never_block_and_no_wait_is_one_red_line(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    make_jpeg(tmp_path / "src" / "a" / "0.jpg", (200, 30, 30))
    holder = hold_lock(ws.root, "import")
    try:
        for args in (("status", ws.root), ("export", ws.root, "--out", tmp_path / "m.csv")):
            result = subprocess.run(cli(*args), capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
        refused = subprocess.run(cli("import", ws.root, tmp_path / "src", "--no-wait"), capture_output=True,
                                 text=True, timeout=60)
        assert refused.returncode == 1
        assert len(refused.stderr.strip().splitlines()) == 1 and "another import is running" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        holder.kill()
        holder.wait()


def wait_for_holder(ws: Path, pid: int, process: subprocess.Popen[str], timeout: float = 120) -> None:
    path = ws / "locks" / "curate.lock"
    deadline = time.monotonic() + timeout
    while not (path.exists() and f"pid {pid}" in path.read_text()):
        assert time.monotonic() < deadline and process.poll() is None, "the first curate never took the lock"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("no_wait", [False, True])
def test_two_curates_at_once_96_and_160_leave_one_consistent_size(tmp_path: Path, flowers_dir: Path,
                                                                  no_wait: bool) -> None:
    """Issue 17: two curates a second apart used to leave curated/ part 96 px, part 160 px."""
    src = tmp_path / "src"
    for name in ("daisy", "roses"):
        (src / name).mkdir(parents=True)
        for photo in sorted((flowers_dir / name).glob("*.jpg"))[:120]:
            (src / name / photo.name).symlink_to(photo)
    ws = tmp_path / "ws"
    init_workspace(ws, ["daisy", "roses"])
    imported = subprocess.run(cli("import", ws, src), capture_output=True, text=True)
    assert imported.returncode == 0 and "imported 240 new" in imported.stdout, imported.stdout + imported.stderr
    first = subprocess.Popen(cli("curate", ws, "--size", "96", "--workers", "1"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    wait_for_holder(ws, first.pid, first)
    os.kill(first.pid, signal.SIGSTOP)  # keep the first mid-run however fast the machine is
    second_err = tmp_path / "second.err"
    with open(second_err, "w") as err:
        second = subprocess.Popen(cli("curate", ws, "--size", "160", *(["--no-wait"] if no_wait else [])),
                                  stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 120
        while second.poll() is None and "waiting for it to finish" not in second_err.read_text():
            assert time.monotonic() < deadline, "the second curate neither waited nor refused"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGCONT)
        _, first_err = first.communicate(timeout=600)
        second.wait(timeout=600)
    assert first.returncode == 0, first_err
    message = second_err.read_text()
    if no_wait:
        assert second.returncode == 1 and "another curate is running" in message
        assert len(message.strip().splitlines()) == 1
        expected = 96
    else:
        assert second.returncode == 0, message
        assert "waiting for it to finish" in message
        expected = 160
    curated = list((ws / "curated").rglob("*.jpg"))
    assert len(curated) > 200
    assert {Image.open(p).size for p in curated} == {(expected, expected)}
