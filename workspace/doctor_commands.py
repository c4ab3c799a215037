"""CLI command `doctor`: one table of what works here, each row ok, warn or fail with its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from workspace import console
from workspace.doctor import FAIL, REMOTE_ENV, Check, run_checks

STYLES = {"ok": "green", "warn": "yellow", "fail": "red"}


def doctor(
    directory: Annotated[Path, typer.Argument(help="Workspace (or any folder) whose disk to check.")] = Path("."),
    remote: Annotated[Optional[str], typer.Option(
        help=f"Selenium Grid URL to check (default: ${REMOTE_ENV}).", envvar=REMOTE_ENV)] = None,
    engines: Annotated[bool, typer.Option("--engines", help="Also run one search per engine (bing, "
                                                            "duckduckgo, naver, google) through the browser "
                                                            "and count full-resolution URLs.")] = False,
    base_url: Annotated[Optional[str], typer.Option(help="With --engines: a mirror or the replica site "
                                                         "instead of the engines' own addresses.")] = None,
    query: Annotated[str, typer.Option(help="With --engines: the query to search.")] = "daisy",
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON for scripts.")] = False,
) -> None:
    """Check Python, packages, Chromium and chromedriver, a Grid, offline weights, disk (and engines)."""
    rows = run_checks(directory, remote or None, engines, base_url, query)
    if as_json:
        console.emit_json([row.to_json() for row in rows])
    else:
        console.out.print(doctor_table(rows))
    if any(row.status == FAIL for row in rows):
        raise typer.Exit(1)


def doctor_table(rows: list[Check]) -> Table:
    table = Table(title="harvest doctor")
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(Text(row.name), Text(row.status, style=STYLES[row.status]), Text(row.detail), Text(row.fix))
    return table


def register(app: typer.Typer) -> None:
    app.command()(doctor)
