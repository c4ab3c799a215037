"""CLI commands of the crawler: crawl (foreground or --detach) and jobs list/logs/cancel."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from workspace import console
from workspace.layout import open_workspace
from workspace.tables import engine_yield_table

if TYPE_CHECKING:
    from crawler.crawl import CrawlSummary

DirArg = Annotated[Path, typer.Argument(help="Workspace folder.")]


def crawl(
    directory: DirArg,
    engine: Annotated[Optional[str], typer.Option(help="bing|duckduckgo|naver|google|page (default: the workspace's engines).")] = None,
    per_class: Annotated[Optional[int], typer.Option(help="Unique, valid, stored images wanted per class.")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="Override the engine's base URL (mirror, proxy, replica).")] = None,
    classes: Annotated[Optional[str], typer.Option(help="Only these classes, comma-separated.")] = None,
    urls: Annotated[Optional[Path], typer.Option("--urls", help="CSV/TSV with url,class columns, or one URL per line.")] = None,
    class_: Annotated[Optional[str], typer.Option("--class", help="Class of a plain URL list.")] = None,
    detach: Annotated[bool, typer.Option(help="Run as a background job (see `jobs`).")] = False,
    allow_thumbnails: Annotated[bool, typer.Option(help="Keep thumbnail-only results (marked as such).")] = False,
    allow_private: Annotated[bool, typer.Option(help="Allow private/loopback addresses (local mirrors, tests).")] = False,
    workers: Annotated[Optional[int], typer.Option(help="Concurrent downloads (default: harvest.json crawl.workers, else 8).")] = None,
    browser: Annotated[str, typer.Option(help="chromium|chrome|firefox.")] = "chromium",
    remote: Annotated[Optional[str], typer.Option(help="Selenium Grid URL.", envvar="HARVEST_REMOTE")] = None,
    driver: Annotated[Optional[str], typer.Option(help="Path to chromedriver/geckodriver.")] = None,
    headful: Annotated[bool, typer.Option(help="Show the browser window.")] = False,
    timeout: Annotated[float, typer.Option(help="Read timeout per request, seconds.")] = 15.0,
    deadline: Annotated[float, typer.Option(help="Total seconds allowed per file.")] = 60.0,
    max_size_mb: Annotated[float, typer.Option(help="Largest file downloaded, in MB.")] = 30.0,
    retry_failed: Annotated[bool, typer.Option(help="Also retry URLs that failed for good (http_404, not_an_image, ...).")] = False,
    cluster: Annotated[Optional[str], typer.Option(
        help="Download a --urls list in shards on a Dask cluster: scheduler address (tcp://host:8786) or "
             "local[N] (default with --urls: $HARVEST_DASK_SCHEDULER).")] = None,
) -> None:
    """Crawl images for each class until it has --per-class unique, valid, stored images."""
    from crawler.browser import BrowserConfig
    from crawler.crawl import CrawlConfig, crawl as run_crawl
    from crawler.http import HttpPolicy
    from crawler.jobs import JobControl, run_as_job
    from workspace.config import build_stage_config, parse_class_list

    ws = open_workspace(directory)
    ws_config = ws.config()
    config = build_stage_config(CrawlConfig, ws_config.section("crawl"), {
        "engine": engine, "per_class": per_class, "base_url": base_url,
        "classes": tuple(parse_class_list(classes)) if classes else None,
        "urls_file": urls, "url_class": class_, "allow_thumbnails": allow_thumbnails or None, "workers": workers,
        "retry_failed": retry_failed or None,
        # the environment's scheduler serves URL lists only; an explicit --cluster elsewhere is refused
        "cluster": cluster or (os.environ.get("HARVEST_DASK_SCHEDULER") if urls else None),
        "browser": BrowserConfig(browser=browser, headless=not headful, driver_path=driver, remote_url=remote),
        "http": HttpPolicy(allow_private=allow_private, read_timeout=timeout, deadline=deadline,
                           max_bytes=int(max_size_mb * 1_000_000), max_pixels=ws_config.max_pixels),
    }, section="crawl")

    def work(job: JobControl) -> CrawlSummary:
        with console.progress_bar("crawling") as bar:
            def progress(done: int, total: int | None = None) -> None:
                bar(done, total)
                job.progress(done, total)
            return run_crawl(ws, config, progress=progress, cancel=job.cancel, job_id=job.job_id)

    run = run_as_job(ws, "crawl", sys.argv[1:], work, crawl_outcome, detach=detach)
    if run.detached:
        console.info(f"started job {run.detached.id} (pid {run.detached.pid}); follow it with "
                     f"`python cli.py jobs logs {directory} {run.detached.id} --follow`")
        return
    _print_summary(run.result)


def crawl_outcome(summary: CrawlSummary) -> tuple[str, str]:
    """The crawl job's final state and message."""
    return ("cancelled" if summary.cancelled else "done",
            f"downloaded {summary.downloaded}, shortfall {summary.shortfall}")


def _print_summary(summary: CrawlSummary) -> None:
    table = Table(title="crawl")
    for column in ("class", "target", "before", "now", "shortfall"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for c in summary.classes:
        table.add_row(c.name, str(c.target), str(c.before), str(c.after), str(c.shortfall))
    console.show(table)
    console.show(engine_yield_table(summary.engines))
    if summary.retried:
        console.info(f"retried {sum(summary.retried.values())} earlier failures the current settings allow ("
                     + ", ".join(f"{k} {v}" for k, v in sorted(summary.retried.items())) + ")")
    if summary.cancelled:
        console.info("cancelled: run the same command again to continue")
    elif summary.shortfall:
        console.err.print(f"shortfall: {summary.shortfall} images short of the target; every query and "
                          "engine ran dry (add queries/expansions or another engine)")


def jobs(
    args: Annotated[list[str], typer.Argument(
        help="DIR (list jobs) | logs DIR ID | cancel DIR ID", metavar="[logs|cancel] DIR [ID]")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="logs: keep printing until the job ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="list: print the jobs as JSON.")] = False,
    grace: Annotated[float, typer.Option(help="cancel: seconds to wait for a clean stop before killing the job's process tree.", min=0)] = 30.0,
) -> None:
    """Background jobs: `jobs DIR` lists them; `jobs logs DIR ID [--follow]`; `jobs cancel DIR ID`."""
    action, rest = (args[0], args[1:]) if args[0] in ("list", "logs", "cancel") else ("list", args)
    if action == "list" and len(rest) == 1:
        return _jobs_json(Path(rest[0])) if as_json else _jobs_list(Path(rest[0]))
    if action in ("logs", "cancel") and len(rest) == 2 and rest[1].isdigit():
        ws = open_workspace(Path(rest[0]))
        return _jobs_logs(ws, int(rest[1]), follow) if action == "logs" else _jobs_cancel(ws, int(rest[1]), grace)
    raise typer.BadParameter(f"expected `jobs DIR`, `jobs logs DIR ID` or `jobs cancel DIR ID`, got {' '.join(args)!r}")


def _jobs_list(directory: Path) -> None:
    from crawler.jobs import list_jobs

    table = Table(title=f"jobs in {directory}")
    for column in ("id", "command", "state", "progress", "started", "message"):
        table.add_column(column)
    for job in list_jobs(open_workspace(directory)):
        total = f"/{job.progress_total}" if job.progress_total else ""
        table.add_row(str(job.id), " ".join(job.command)[:60], job.state, f"{job.progress_done}{total}",
                      job.started_at[:19].replace("T", " "), job.message or "")
    console.out.print(table)


def _jobs_json(directory: Path) -> None:
    from dataclasses import asdict

    from crawler.jobs import list_jobs

    console.emit_json([asdict(job) for job in list_jobs(open_workspace(directory))])


def _jobs_logs(ws, job_id: int, follow: bool) -> None:
    from crawler.jobs import read_log

    for line in read_log(ws, job_id, follow=follow):
        console.out.print(line, markup=False, highlight=False)


def _jobs_cancel(ws, job_id: int, grace: float) -> None:
    from crawler.jobs import cancel_job

    job = cancel_job(ws, job_id, grace)
    console.info(f"job {job.id}: {job.state}")


def register(app: typer.Typer) -> None:
    app.command()(crawl)
    app.command()(jobs)
