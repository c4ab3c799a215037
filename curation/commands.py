"""CLI commands of curation: curate, dedupe."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from workspace import console
from workspace.layout import open_workspace

DirArg = Annotated[Path, typer.Argument(help="Workspace folder.")]


def curate(
    directory: DirArg,
    size: Annotated[Optional[int], typer.Option(help="Output size in pixels (default: the workspace's image_size).")] = None,
    resize_mode: Annotated[Optional[str], typer.Option(help="center-crop|pad|keep-ratio|stretch.")] = None,
    split: Annotated[Optional[str], typer.Option(help="train,val,test ratios, e.g. 0.8,0.1,0.1.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Split seed.")] = None,
    threshold: Annotated[Optional[int], typer.Option(
        help="Ceiling of the near-duplicate radius (bits of 64-bit pHash); the radius itself is calibrated to the data.")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="jpg|png|webp.")] = None,
    resplit: Annotated[bool, typer.Option(help="Redo the split, test included (normally frozen).")] = False,
    workers: Annotated[Optional[int], typer.Option(help="Processes (default: every core).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Refuse at once if another curate is running on DIR.")] = False,
    cluster: Annotated[Optional[str], typer.Option(
        help="Run the per-image work and the near-duplicate search on a Dask cluster: scheduler address "
             "(tcp://host:8786) or local[N]. Every worker must see DIR at the same path.",
        envvar="HARVEST_DASK_SCHEDULER")] = None,
    band_join_above: Annotated[Optional[int], typer.Option(
        help="Past this many hashes, search near duplicates as a band join on Dask (0: never; always with --cluster).")] = None,
) -> None:
    """Validate, flag, dedupe, split and resize into DIR/curated/{train,val,test}/<class>/."""
    from curation.pipeline import CurateConfig, curate as run_curate
    from workspace.config import build_stage_config, parse_split
    from workspace.lock import writer_lock

    ws = open_workspace(directory)
    ws_config = ws.config()
    defaults = {"size": ws_config.image_size, "split": ws_config.split, "seed": ws_config.seed,
                "max_pixels": ws_config.max_pixels}
    config = build_stage_config(CurateConfig, ws_config.section("curate"), {
        "size": size, "resize_mode": resize_mode, "split": parse_split(split) if split else None,
        "seed": seed, "threshold": threshold, "format": format, "resplit": resplit or None, "workers": workers,
        "cluster": cluster, "band_join_above": band_join_above,
    }, section="curate", defaults=defaults)
    with writer_lock(ws, "curate", wait=not no_wait, on_wait=console.warn), \
            console.progress_bar("curating") as progress:
        summary = run_curate(ws, config, progress=progress)
    if as_json:
        from dataclasses import asdict

        console.emit_json({"workspace": str(directory), **asdict(summary)})
        return
    table = Table(title=f"curated {directory}: dataset version {summary.version} (all images)")
    for column in ("class", "train", "val", "test"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name in ws_config.class_names:
        counts = summary.splits.get(name, {})
        table.add_row(name, *(str(counts.get(s, 0)) for s in ("train", "val", "test")))
    console.show(table)
    console.info(summary.calibration_text)
    changed = ", ".join(f"{k} {v}" for k, v in summary.changes.items()) or "nothing"
    console.info(f"this run: analysed {summary.analysed} new images; changed: {changed}; "
                 f"curated files written {summary.written}, removed {summary.removed}")
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(summary.rejected.items())) or "none"
    console.info(f"dataset totals: duplicates {summary.duplicates}, conflicts {summary.conflicts}, possible "
                 f"duplicates kept {summary.possible_duplicates} pairs, rejected: {rejected}")
    if summary.inactive:
        console.warn("inactive classes (no longer in harvest.json; removed from curated/, rows and raw files kept): "
                     + ", ".join(f"{k} ({v} images)" for k, v in summary.inactive.items()))
    for line in summary.notes:
        console.warn(line)


def dedupe(
    folder: Annotated[Path, typer.Argument(help="Any folder of images (searched recursively).")],
    threshold: Annotated[int, typer.Option(
        help="Ceiling of the near-duplicate radius (bits of 64-bit pHash); the radius itself is calibrated to the folder.")] = 10,
    out: Annotated[Optional[Path], typer.Option(help="Write the groups as CSV (group, file, kept).")] = None,
) -> None:
    """Find exact and near-duplicate groups in any folder (the kept file first)."""
    from curation.dedupe import dedupe_folder
    from curation.errors import CurationError

    if not folder.is_dir():
        raise CurationError(f"folder not found: {folder}")
    if not 0 <= threshold <= 32:
        raise CurationError(f"--threshold must be between 0 and 32 bits, got {threshold}")
    result = dedupe_folder(folder, threshold)
    groups, bad = result.groups, result.unreadable
    if out:
        with open(out, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["group", "file", "kept"])
            for number, group in enumerate(groups, start=1):
                writer.writerow([number, str(group.kept), "yes"])
                for dup in group.duplicates:
                    writer.writerow([number, str(dup), "no"])
    for number, group in enumerate(groups, start=1):
        console.info(f"group {number}: keep {group.kept}")
        for dup in group.duplicates:
            console.info(f"    duplicate {dup}")
    for first, second in result.possible:
        console.info(f"possible duplicate (not confirmed, both kept): {first} ~ {second}")
    for path, reason in bad:
        console.info(f"unreadable {path}: {reason}")
    console.info(result.calibration.describe())
    console.info(f"{len(groups)} duplicate groups, {sum(len(g.duplicates) for g in groups)} duplicates, "
                 f"{len(result.possible)} possible duplicates{f', written to {out}' if out else ''}")


def register(app: typer.Typer) -> None:
    app.command()(curate)
    app.command()(dedupe)
