"""Jobs: every crawl is a row in `jobs`; `--detach` runs it as a process that outlives the terminal.

A job's state is written by the process doing the work (running → done / failed / cancelled).
A row still `running` whose process is gone is shown as `interrupted`; running the same command
again resumes the work (the crawl itself is resumable), as a new job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from crawler.errors import CrawlerError
from workspace.catalog import Catalog, utc_now
from workspace.layout import Workspace
from workspace.progress import Progress
from workspace.storage import pid_alive

CLI = Path(__file__).resolve().parents[1] / "cli.py"
JOB_ENV = "HARVEST_JOB_ID"
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")
DETACH_FLAG = "--detach"
Result = TypeVar("Result")


@dataclass(frozen=True)
class JobInfo:
    id: int
    kind: str
    command: list[str]
    state: str
    pid: int | None
    progress_done: int
    progress_total: int | None
    message: str | None
    started_at: str
    ended_at: str | None
    log_path: str | None


def _info(row) -> JobInfo:
    return JobInfo(row["id"], row["kind"], json.loads(row["command"]), row["state"], row["pid"],
                   row["progress_done"], row["progress_total"], row["message"], row["started_at"],
                   row["ended_at"], row["log_path"])


def start_job(ws: Workspace, kind: str, argv: list[str]) -> JobInfo:
    """Start `python cli.py ARGV` detached (own session, output to DIR/logs/job-<id>.log)."""
    with ws.catalog() as catalog:
        job_id = catalog.insert(
            "INSERT INTO jobs (kind, command, state, started_at) VALUES (?, ?, 'queued', ?)",
            (kind, json.dumps(argv), utc_now()))
        log_path = ws.logs_dir / f"job-{job_id}.log"
        ws.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, str(CLI), *argv], stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=os.getcwd(),
                env={**os.environ, JOB_ENV: str(job_id), "PYTHONUNBUFFERED": "1"})
        catalog.execute("UPDATE jobs SET pid = ?, log_path = ?, state = 'running', heartbeat_at = ?"
                        " WHERE id = ? AND state = 'queued'",
                        (process.pid, ws.relative(log_path), utc_now(), job_id))
        return _info(catalog.one("SELECT * FROM jobs WHERE id = ?", (job_id,)))


class JobReporter:
    """Used by the process doing a job's work: progress, heartbeat and the final state."""

    def __init__(self, catalog: Catalog, job_id: int) -> None:
        self.catalog, self.job_id = catalog, job_id
        self._last = 0.0

    @classmethod
    def attach(cls, catalog: Catalog, kind: str, argv: list[str]) -> JobReporter:
        """The job this process runs: the detached one named in the environment, else a new row."""
        env_id = os.environ.get(JOB_ENV)
        if env_id and env_id.isdigit():
            catalog.execute("UPDATE jobs SET pid = ?, state = 'running', heartbeat_at = ? WHERE id = ?",
                            (os.getpid(), utc_now(), int(env_id)))
            return cls(catalog, int(env_id))
        job_id = catalog.insert(
            "INSERT INTO jobs (kind, command, state, pid, started_at, heartbeat_at)"
            " VALUES (?, ?, 'running', ?, ?, ?)", (kind, json.dumps(argv), os.getpid(), utc_now(), utc_now()))
        return cls(catalog, job_id)

    def progress(self, done: int, total: int | None = None) -> None:
        now = time.monotonic()
        if now - self._last < 1.0 and done != total:
            return
        self._last = now
        self.catalog.execute(
            "UPDATE jobs SET progress_done = ?, progress_total = ?, heartbeat_at = ? WHERE id = ?",
            (done, total, utc_now(), self.job_id))

    def finish(self, state: str, message: str | None = None) -> None:
        self.catalog.execute("UPDATE jobs SET state = ?, message = ?, ended_at = ? WHERE id = ?",
                             (state, (message or "")[:500] or None, utc_now(), self.job_id))


@dataclass(frozen=True)
class JobControl:
    """What the work of a job gets: the event SIGTERM sets, and where to report progress."""

    job_id: int
    cancel: threading.Event
    progress: Progress


@dataclass(frozen=True)
class JobRun(Generic[Result]):
    """How a command ran: in the background (`detached` is its job) or here (`result`)."""

    detached: JobInfo | None = None
    result: Result | None = None


def run_as_job(ws: Workspace, kind: str, argv: list[str], work: Callable[[JobControl], Result],
               outcome: Callable[[Result], tuple[str, str]], *, detach: bool = False) -> JobRun[Result]:
    """Run a command as a row of `jobs`: with `detach`, start `python cli.py ARGV` (without
    --detach) in the background and return at once; otherwise run `work` here, with SIGTERM
    setting its cancel event, its progress reported to the row, and the row finished with
    `outcome(result)` = (state, message), or as failed / cancelled when `work` raises."""
    if detach:
        return JobRun(detached=start_job(ws, kind, [a for a in argv if a != DETACH_FLAG]))
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    with ws.catalog() as catalog:
        reporter = JobReporter.attach(catalog, kind, argv)
        try:
            result = work(JobControl(reporter.job_id, cancel, reporter.progress))
        except BaseException as exc:
            reporter.finish("cancelled" if isinstance(exc, KeyboardInterrupt) else "failed", str(exc))
            raise
        reporter.finish(*outcome(result))
    return JobRun(result=result)


def list_jobs(ws: Workspace) -> list[JobInfo]:
    """All jobs, newest first; running rows whose process is gone become `interrupted`."""
    with ws.catalog() as catalog:
        for row in catalog.all("SELECT id, pid FROM jobs WHERE state IN ('running', 'queued', 'cancelling')"):
            if not row["pid"] or not pid_alive(row["pid"]) or _is_zombie(row["pid"]):
                catalog.execute("UPDATE jobs SET state = 'interrupted', ended_at = ? WHERE id = ?"
                                " AND state IN ('running', 'queued', 'cancelling')", (utc_now(), row["id"]))
        return [_info(r) for r in catalog.all("SELECT * FROM jobs ORDER BY id DESC")]


def get_job(ws: Workspace, job_id: int) -> JobInfo:
    for job in list_jobs(ws):
        if job.id == job_id:
            return job
    raise CrawlerError(f"no job {job_id} in {ws.root}")


def cancel_job(ws: Workspace, job_id: int, grace: float = 30.0) -> JobInfo:
    """Ask a running job to stop (SIGTERM: it finishes the current downloads, quits its browser and
    exits); one still running after `grace` seconds is killed with its whole process tree (its
    browser goes with it, see crawler/reaper.py)."""
    job = get_job(ws, job_id)
    if job.state in FINAL_STATES:
        return job
    with ws.catalog() as catalog:
        catalog.execute("UPDATE jobs SET state = 'cancelling' WHERE id = ?", (job_id,))
    if job.pid and _runs_harvest(job.pid) and _signal(job.pid, signal.SIGTERM) and not _wait_gone(job.pid, grace):
        end_process_tree(job.pid)
        _wait_gone(job.pid, 10.0)
        with ws.catalog() as catalog:
            catalog.execute("UPDATE jobs SET state = 'cancelled', message = ?, ended_at = ? WHERE id = ?"
                            " AND state = 'cancelling'",
                            (f"killed: still running {grace:g} s after SIGTERM", utc_now(), job_id))
    return get_job(ws, job_id)


def end_process_tree(pid: int) -> None:
    """SIGKILL a job and every process of its group (a detached job leads its own group)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _runs_harvest(pid: int) -> bool:
    """The recorded pid still runs Harvest's CLI (not a process that got the id afterwards)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return CLI.name.encode() in handle.read()
    except OSError:
        return False


def _signal(pid: int, signum: int) -> bool:
    try:
        os.kill(pid, signum)
        return True
    except ProcessLookupError:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and not _is_zombie(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def wait_for_job(ws: Workspace, job_id: int, timeout: float) -> JobInfo:
    """Poll until the job reaches a final state or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    job = get_job(ws, job_id)
    while job.state not in FINAL_STATES and time.monotonic() < deadline:
        time.sleep(0.2)
        job = get_job(ws, job_id)
    return job


def read_log(ws: Workspace, job_id: int, follow: bool = False, poll: float = 0.5) -> Iterator[str]:
    """The job's log lines; with `follow`, keep yielding until the job ends."""
    job = get_job(ws, job_id)
    if not job.log_path:
        raise CrawlerError(f"job {job_id} ran in the foreground and has no log file")
    path = ws.resolve(job.log_path)
    with open(path, encoding="utf-8", errors="replace") as handle:
        while True:
            line = handle.readline()
            if line:
                yield line.rstrip("\n")
                continue
            if not follow or get_job(ws, job_id).state in FINAL_STATES:
                rest = handle.read()
                yield from (line for line in rest.splitlines())
                return
            time.sleep(poll)


def _is_zombie(pid: int) -> bool:
    """A child of ours that exited but was not reaped still 'exists'; it is not running."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ", 1)[1][:1] == "Z"
    except (OSError, IndexError):
        return False
