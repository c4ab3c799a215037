"""CLI commands of the foundation: init, import, status, export."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from workspace import console
from rich.markup import escape

from workspace.config import ConfigError, known_engines, parse_class_list, parse_split, validate_workspace_config
from workspace.dataset import curate_state
from workspace.importer import import_labelled, import_unlabelled
from workspace.layout import init_workspace, open_workspace, read_queries_file
from workspace.lock import writer_lock
from workspace.manifest import class_status, engine_yield, export_manifest
from workspace.tables import engine_yield_table

DirArg = Annotated[Path, typer.Argument(help="Workspace folder, e.g. datasets/flowers.")]


def init(
    directory: DirArg,
    classes: Annotated[str, typer.Option("--classes", help="Comma-separated class names.")],
    queries: Annotated[Optional[Path], typer.Option(
        "--queries", help="File of 'class: query one; query two' lines (default query = class name).")] = None,
    target: Annotated[int, typer.Option(help="Images wanted per class.", min=1)] = 100,
    engines: Annotated[str, typer.Option(help=f"Engines to crawl, in order: {','.join(known_engines())}.")] = "bing",
    image_size: Annotated[int, typer.Option(help="Curated image size in pixels.")] = 224,
    split: Annotated[str, typer.Option(help="train,val,test ratios.")] = "0.8,0.1,0.1",
) -> None:
    """Create a workspace (an existing one is reported, never overwritten)."""
    names = parse_class_list(classes)
    engine_list = tuple(e.strip() for e in engines.split(",") if e.strip())
    unknown = [e for e in engine_list if e not in known_engines()]
    if unknown or not engine_list:
        raise ConfigError(f"--engines must name known engines ({', '.join(known_engines())}), got {engines!r}")
    query_map = read_queries_file(queries) if queries else None
    result = init_workspace(directory, names, query_map, target=target, engines=engine_list,
                            image_size=image_size, split=parse_split(split))
    if result.created:
        console.info(f"created workspace {directory} with {len(names)} classes: {', '.join(names)}")
    else:
        console.info(f"workspace {directory} already exists (classes: {', '.join(result.classes)});"
                     " nothing was changed")


def import_(
    directory: DirArg,
    folder: Annotated[Path, typer.Argument(help="FOLDER/<class>/<images> (any depth under each class).")],
    add_classes: Annotated[bool, typer.Option(help="Add class folders the workspace does not have yet.")] = False,
    unlabelled: Annotated[bool, typer.Option(help="Import every file under FOLDER as an unlabelled pool.")] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Refuse at once if another import is running on DIR.")] = False,
    follow_symlinks: Annotated[bool, typer.Option(help="Follow symlinks to files, like cp -L.")] = True,
) -> None:
    """Import your own images as label source `manual` (or an unlabelled pool)."""
    ws = open_workspace(directory)
    with writer_lock(ws, "import", wait=not no_wait, on_wait=console.warn), \
            console.progress_bar("importing") as progress:
        if unlabelled:
            summary = import_unlabelled(ws, folder, progress=progress, follow_symlinks=follow_symlinks)
        else:
            summary = import_labelled(ws, folder, add_classes=add_classes, progress=progress,
                                      follow_symlinks=follow_symlinks)
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items()))
    found = summary.seen + sum(summary.skipped.values())
    console.info(f"imported {summary.new} new of {found} files ({summary.already} already in the"
                 f" catalog){'; ' + statuses if statuses else ''}")
    if summary.by_reason:
        console.info("reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.by_reason.items())))
    if summary.skipped:
        hint = "; drop --no-follow-symlinks to import them" if "symlink_not_followed" in summary.skipped else ""
        console.warn(f"skipped {found - summary.seen} of them: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(summary.skipped.items())) + hint)
    elif summary.seen == 0:
        console.warn(f"no image files found under {folder} (hidden files and folders are ignored)")


def status(
    directory: DirArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print classes, engines and active jobs as JSON.")] = False,
) -> None:
    """Per-class table: stored, accepted, rejected by reason, duplicates, splits, label sources."""
    ws = open_workspace(directory)
    validate_workspace_config(ws)
    with ws.catalog() as catalog:
        rows = class_status(catalog)
        yields = engine_yield(catalog)
        jobs = catalog.all("SELECT id, kind, state FROM jobs WHERE state IN ('running', 'queued')")
        state = curate_state(ws, catalog)
    if state.problem:
        console.err.print(f"[bold red]warning: {escape(state.problem)}[/bold red] (the counts below are the "
                          "unfinished curate's)", markup=True)
    if as_json:
        console.emit_json({
            "workspace": str(directory),
            "dataset_version": state.version.version if state.version else None,
            "curate_problem": state.problem,
            "classes": [{**asdict(r), "rejected_total": r.rejected_total} for r in rows],
            "engines": [{**asdict(y), "full_resolution_share": y.full_resolution_share} for y in yields],
            "active_jobs": [dict(job) for job in jobs],
        })
        return
    table = Table(title=f"{directory}")
    for column in ("class", "stored", "accepted", "pending", "rejected", "duplicates", "conflicts",
                   "train", "val", "test", "label sources", "rejected by reason"):
        table.add_column(column, justify="left" if column in ("class", "label sources",
                                                              "rejected by reason") else "right")
    for r in rows:
        table.add_row(
            r.name if r.active else f"{r.name} (inactive)", str(r.stored), str(r.accepted), str(r.unprocessed), str(r.rejected_total),
            str(r.duplicates), str(r.conflicts),
            *(str(r.splits.get(s, 0)) for s in ("train", "val", "test")),
            ", ".join(f"{k} {v}" for k, v in sorted(r.label_sources.items())) or "-",
            ", ".join(f"{k} {v}" for k, v in sorted(r.rejected.items())) or "-",
        )
    console.out.print(table)
    if state.version:
        console.info(f"dataset version {state.version.version} (curated {state.version.created_at[:19]} UTC)")
    if any(r.accepted for r in rows) and not any(r.splits.get("test") for r in rows if r.active):
        console.warn("no test split: make one with `curate DIR --split 0.8,0.1,0.1` (classes without test "
                     "images get a test share)")
    if yields:
        console.out.print(engine_yield_table(yields))
    for job in jobs:
        console.info(f"job {job['id']} ({job['kind']}) is {job['state']}")


def export(
    directory: DirArg,
    out: Annotated[Path, typer.Option("--out", help="Manifest file, .csv or .parquet.")],
) -> None:
    """Write the manifest: one row per image with its status, reason, split, label and hashes."""
    ws = open_workspace(directory)
    count = export_manifest(ws, out)
    console.info(f"wrote {count} rows to {out}")


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command("import")(import_)
    app.command()(status)
    app.command()(export)
