"""CLI command: report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workspace import console
from workspace.layout import open_workspace


def report(directory: Annotated[Path, typer.Argument(help="Workspace folder.")]) -> None:
    """Write DIR/reports/index.html: counts, rejects, duplicates, conflicts, contact sheets, rounds."""
    from curation.report import build_report

    path = build_report(open_workspace(directory))
    console.info(f"report: {path}")


def register(app: typer.Typer) -> None:
    app.command()(report)
