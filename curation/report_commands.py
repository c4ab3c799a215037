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

    path = build_report(open_workspace(directory))
    console.info(f"report: {path}")
    if open_page:
        import webbrowser

        if not webbrowser.open(path.as_uri()):
            console.info("no browser found to open it; open the path above by hand")


def register(app: typer.Typer) -> None:
    app.command()(report)
