"""`python cli.py replica FOLDER --port P`: run the replica search site on its own until Ctrl-C."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from workspace import console


def replica(
    folder: Annotated[Path, typer.Argument(help="FOLDER/<class>/<images> to serve as search results.")],
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).",
                                      min=0, max=65535)] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    per_page: Annotated[int, typer.Option(help="Results per page / per async block.")] = 35,
    offclass_share: Annotated[float, typer.Option(help="Share of results from other classes.")] = 0.0,
    duplicate_share: Annotated[float, typer.Option(help="Share of exact copies under other URLs.")] = 0.0,
    reencoded_share: Annotated[float, typer.Option(help="Share of re-encoded, resized copies.")] = 0.0,
    broken_share: Annotated[float, typer.Option(help="Share of 404s and HTML served as images.")] = 0.0,
    thumbnail_only_share: Annotated[float, typer.Option(
        help="Share of results with only a thumbnail.")] = 0.0,
    slow_ms: Annotated[int, typer.Option(help="Delay added to every response, in milliseconds.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed for the noise and the result order.")] = 0,
) -> None:
    """Serve FOLDER through pages built like Bing, DuckDuckGo, Naver, Google and a plain gallery."""
    from replica import ReplicaConfig, ReplicaSite

    config = ReplicaConfig(folder=folder, per_page=per_page, offclass_share=offclass_share,
                           duplicate_share=duplicate_share, reencoded_share=reencoded_share,
                           broken_share=broken_share, thumbnail_only_share=thumbnail_only_share,
                           slow_ms=slow_ms, seed=seed)
    site = ReplicaSite(config, host=host, port=port)
    with site:
        base = site.base_url
        console.out.print(f"replica serving {len(site.index.classes)} classes "
                          f"({', '.join(site.index.classes)}) at {base}", markup=False)
        console.info(f"  crawl it:  python cli.py crawl DIR --engine bing --base-url {base}")
        console.info(f"  truth map: {base}/__replica/truth.json   (Ctrl-C stops)")
        console.out.file.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.info("replica stopped")


def register(app: typer.Typer) -> None:
    app.command()(replica)
