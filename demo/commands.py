"""CLI command: demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workspace import console
from workspace.tables import print_rounds


def demo(
    workspace: Annotated[Path, typer.Option(help="Where the demo workspace goes.")] = Path("datasets/demo"),
    fresh: Annotated[bool, typer.Option(help="Start over instead of resuming.")] = False,
    size: Annotated[str, typer.Option(help="full (a few minutes) or small (a quick check).")] = "full",
) -> None:
    """Run the whole pipeline offline on the bundled photos and print the round table."""
    from demo.run import DemoConfig, run_demo

    result = run_demo(DemoConfig(workspace=workspace, fresh=fresh, size=size), notify=console.info)
    print_rounds(result.summary, result.class_names)
    console.info(f"stopped: {result.summary.stopped_because}")
    console.info(f"report: {result.report}")


def register(app: typer.Typer) -> None:
    app.command()(demo)
