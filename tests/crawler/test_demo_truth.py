"""The demo's truth (which class a replica URL really shows) survives a resume on another port."""

from __future__ import annotations

from pathlib import Path

from replica import ReplicaConfig, ReplicaSite
from demo.run import OFFCLASS, SERVED, replica_truth
from tests.conftest import make_jpeg
from workspace.layout import init_workspace, open_workspace
from workspace.storage import IngestMeta, ingest_file


def test_urls_crawled_from_an_earlier_port_keep_their_true_class(tmp_path: Path) -> None:
    classes = sorted(p.name for p in SERVED.iterdir() if p.is_dir())
    init_workspace(tmp_path / "ws", classes)
    ws = open_workspace(tmp_path / "ws")
    config = ReplicaConfig(folder=SERVED, offclass_folder=OFFCLASS, per_page=20, offclass_share=0.25, seed=7)
    with ReplicaSite(config) as site:
        earlier = "http://127.0.0.1:1"  # the port an interrupted run crawled from
        url, info = next((u, i) for u, i in site.truth(earlier).items() if i.get("class"))
        with ws.catalog() as catalog:
            ingest_file(ws, catalog, make_jpeg(tmp_path / "a.jpg", (200, 40, 40)),
                        IngestMeta(url, classes[0], "query", engine="bing"))
        truth = replica_truth(site, ws)
        now = {u: i["class"] for u, i in site.truth().items() if i.get("class")}
    assert truth[url] == info["class"]
    assert now.items() <= truth.items()  # this run's own addresses are known too
