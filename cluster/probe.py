"""The probe every worker runs before any work: does it see the workspace, can it write there, can
it import what the tasks need (the scheduler too: it unpickles every task). Shipped by value, so
it runs even where Harvest is not installed."""

from __future__ import annotations

import uuid
from pathlib import Path

from cluster.errors import ClusterError

CURATE_MODULES = ("numpy", "PIL", "imagehash", "curation.workers", "curation.executor")
DOWNLOAD_MODULES = ("requests", "urllib3", "PIL", "crawler.http", "workspace.storage", "cluster.downloads")


def probe_worker(root: str, token_name: str, token: str, modules: tuple[str, ...]) -> str | None:
    """None when this worker can work on the workspace at `root`, else the problem in words."""
    import os

    token_path = Path(root) / token_name
    try:
        seen = token_path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"does not see the workspace {root} ({exc.strerror or exc}); put it on storage every worker mounts at the same path"
    if seen != token:
        return f"sees another folder at {root} (not this workspace); mount the same storage on every worker"
    scratch = token_path.with_name(f"{token_name.rsplit('/', 1)[-1]}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        scratch.write_bytes(b"")
        scratch.unlink()
    except OSError as exc:
        return f"cannot write in {scratch.parent} ({exc.strerror or exc})"
    return missing_module(modules)


def missing_module(modules: tuple[str, ...]) -> str | None:
    """None when every module imports here, else which package is missing and what to do."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or module
            what = "Harvest itself: pip install it there, or put its folder on PYTHONPATH" \
                if missing.split(".")[0] in ("curation", "crawler", "workspace", "cluster") \
                else "install Harvest's requirements.txt there"
            return f"is missing the Python package {missing!r} ({what})"
    return None


def probe_workspace(client, root: Path, modules: tuple[str, ...]) -> int:
    """Run the probe on every worker; raise one line naming the first worker that fails.
    Returns how many workers passed."""
    import cloudpickle

    import cluster.probe

    cloudpickle.register_pickle_by_value(cluster.probe)
    token = uuid.uuid4().hex
    tmp = root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    token_path = tmp / f"cluster-probe-{token[:12]}"
    token_path.write_text(token, encoding="utf-8")
    try:
        answers = client.run(probe_worker, str(root), str(token_path.relative_to(root)), token, tuple(modules),
                             on_error="return")
    finally:
        token_path.unlink(missing_ok=True)
    on_scheduler = client.run_on_scheduler(missing_module, tuple(modules))
    if on_scheduler:   # the scheduler unpickles every task: it needs Harvest's code too
        raise ClusterError(f"the Dask scheduler {on_scheduler}")
    for worker, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            raise ClusterError(f"Dask worker {worker} failed the workspace probe: {answer!r}")
        if answer is not None:
            raise ClusterError(f"Dask worker {worker} {answer}")
    return len(answers)
