"""CLI command: report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workspace import console
from workspace.layout import open_workspace


def report(
    directory: Annotated[Path, typer.Argument(help="Workspace folder.")],
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")] = False,
) -> None:
    """Write DIR/reports/index.html: counts, rejects, duplicates, conflicts, contact sheets, rounds."""
    from curation.report import build_report
    from workspace.dataset import curate_state

    ws = open_workspace(directory)
    with ws.catalog() as catalog:
        problem = curate_state(ws, catalog).problem
    if problem:
        console.err.print(f"[bold red]warning: {problem}[/bold red] (the report shows the unfinished curate's counts)",
                          markup=True)
    path = build_report(ws)
    console.info(f"report: {path}")
    if open_page:
        import webbrowser

        if not webbrowser.open(path.as_uri()):
            console.info("no browser found to open it; open the path above by hand")


def register(app: typer.Typer) -> None:
    app.command()(report)
