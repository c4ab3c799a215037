"""Separate virtualenvs for the peer tools, so their numbers come from this machine in this run.

Peers never go into /work/main/.venv or requirements.txt: each gets its own venv under
bench/.venvs/<name>, and benchmarks run them as subprocesses of that venv's python.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
VENVS_DIR = Path(os.environ.get("HARVEST_BENCH_VENVS", BENCH_DIR / ".venvs"))
SCRIPTS_DIR = BENCH_DIR / "peer_scripts"


@dataclass(frozen=True)
class Peer:
    """One peer tool: its venv name, what to pip install (in order) and the dists to report."""

    name: str
    install_steps: tuple[tuple[str, ...], ...]
    report: tuple[str, ...]


PEERS: dict[str, Peer] = {
    "img2dataset": Peer("img2dataset", (("img2dataset",),), ("img2dataset", "pandas", "pillow", "albumentations", "opencv-python-headless")),
    "imagededup": Peer(
        "imagededup",
        (("torch==2.14.1", "torchvision==0.29.1"), ("imagededup",)),
        ("imagededup", "torch", "torchvision", "pillow", "numpy"),
    ),
    "split-folders": Peer("split-folders", (("split-folders",),), ("split-folders",)),
}


def venv_python(name: str) -> Path:
    return VENVS_DIR / name / "bin" / "python"


def _marker(name: str) -> Path:
    return VENVS_DIR / name / ".harvest-installed.json"


def is_installed(name: str) -> bool:
    """True once install() finished for this peer (the marker is written last)."""
    return _marker(name).exists()


def versions(name: str) -> dict[str, str]:
    """Installed versions of the peer's reported distributions, {} when not installed."""
    if not is_installed(name):
        return {}
    return json.loads(_marker(name).read_text())


def install(name: str) -> dict[str, str]:
    """Create the peer's venv and pip install it; idempotent. Returns the reported versions."""
    peer = PEERS[name]
    if is_installed(name):
        return versions(name)
    env_dir = VENVS_DIR / name
    if not venv_python(name).exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    for step in peer.install_steps:
        log.info("installing %s into %s", " ".join(step), env_dir)
        subprocess.run([str(venv_python(name)), "-m", "pip", "install", "-q", *step], check=True)
    found = _query_versions(name, peer.report)
    _marker(name).write_text(json.dumps(found, indent=2))
    return found


def _query_versions(name: str, dists: tuple[str, ...]) -> dict[str, str]:
    code = (
        "import json,sys\nfrom importlib import metadata\nout={}\n"
        "for d in sys.argv[1:]:\n"
        "    try: out[d]=metadata.version(d)\n"
        "    except metadata.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run([str(venv_python(name)), "-c", code, *dists], check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def run_peer(name: str, script: str, args: list[str], timeout: float) -> dict:
    """Run bench/peer_scripts/<script> in the peer's venv; it prints one JSON object last.

    Returns {"status": "ok", ...result} or {"status": "timeout"|"failed"|"absent", "detail": ...}.
    """
    if not is_installed(name):
        return {"status": "absent", "detail": f"peer venv {name} not installed (python -m bench.peers)"}
    cmd = [str(venv_python(name)), str(SCRIPTS_DIR / script), *args]
    # Own process group: on a timeout the peer's worker processes die with it (no orphans).
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"status": "timeout", "detail": f"did not finish in {timeout:.0f} s"}
    done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"status": "failed", "detail": " | ".join(tail)}
    lines = [ln for ln in done.stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        return {"status": "failed", "detail": "no result printed"}
    return {"status": "ok", **json.loads(lines[-1])}


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.peers [NAME ...]` installs the peers (all by default)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = (argv if argv is not None else sys.argv[1:]) or list(PEERS)
    for name in names:
        print(name, json.dumps(install(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
