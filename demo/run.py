"""`demo`: replica search site over the bundled photos → crawl with real headless Chromium →
curate → clean → train → self-train → raw-crawl baseline → HTML report, all on 127.0.0.1, with
the pretrained EfficientNet-Lite0 offline. The test split is a clean set of photos the replica
never serves, so the printed accuracies mean something. Rerunning resumes."""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from replica import ReplicaConfig, ReplicaSite
from curation.report import build_report
from selftrain.loop import SelfTrainConfig, SelfTrainSummary, self_train
from workspace.errors import WorkspaceError
from workspace.layout import Workspace, init_workspace, open_workspace

log = logging.getLogger(__name__)

PHOTOS = Path(__file__).resolve().parent / "photos"
SERVED, OFFCLASS, TEST = PHOTOS / "served", PHOTOS / "offclass", PHOTOS / "test"
OFFCLASS_SHARE = 0.25  # real engines: 10-30 % off-class
DEFAULT_PORT = 8731  # fixed so a resumed demo sees the same URLs
# The mission's 100 -> 600 -> 1000 per class, scaled to the 120 served photos per class (with a
# round 0 large enough for a teacher).
SIZES = {
    "full": {"schedule": (20, 60, 100), "epochs": 60, "patience": 10, "image_size": 160, "curate_size": 160,
             "threshold": 0.5},
    "small": {"schedule": (20, 30), "epochs": 40, "patience": 8, "image_size": 128, "curate_size": 128,
              "threshold": 0.5},
}


@dataclass(frozen=True)
class DemoConfig:
    workspace: Path = Path("datasets/demo")
    fresh: bool = False
    size: str = "full"
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise WorkspaceError(f"--size must be one of {', '.join(SIZES)}, got {self.size!r}")


@dataclass(frozen=True)
class DemoResult:
    workspace: Workspace
    summary: SelfTrainSummary
    report: Path
    class_names: list[str]


def free_port(preferred: int) -> int:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a killed run's port is free
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return 0


def replica_truth(site: ReplicaSite, ws: Workspace) -> dict[str, str]:
    """URL -> true class, for this run's address and every replica address an earlier, interrupted
    run of this workspace crawled from (its port was taken, or this one's is): a resumed demo still
    knows the truth of what it already holds."""
    with ws.catalog() as catalog:
        sources = catalog.all("SELECT DISTINCT source FROM images WHERE source LIKE 'http://127.0.0.1:%'")
    origins = {site.base_url} | {"{0}://{1}".format(*urlsplit(row["source"])[:2]) for row in sources}
    return {url: info["class"] for origin in sorted(origins) for url, info in site.truth(origin).items()
            if info.get("class")}


def run_demo(config: DemoConfig, notify: Callable[[str], None]) -> DemoResult:
    if not all(folder.is_dir() for folder in (SERVED, OFFCLASS, TEST)):
        raise WorkspaceError(f"the bundled photos are missing: {SERVED}, {OFFCLASS} and {TEST}")
    if config.fresh and config.workspace.exists():
        shutil.rmtree(config.workspace)
    size = SIZES[config.size]
    classes = sorted(p.name for p in SERVED.iterdir() if p.is_dir())
    replica = ReplicaConfig(folder=SERVED, offclass_folder=OFFCLASS, per_page=20, offclass_share=OFFCLASS_SHARE,
                            duplicate_share=0.05,
                            reencoded_share=0.05, broken_share=0.05, seed=7)
    with ReplicaSite(replica, port=free_port(config.port)) as site:
        notify(f"replica search site with {len(classes)} classes at {site.base_url} ({OFFCLASS_SHARE:.0%} off-class "
               "results, duplicates, re-encoded copies, broken links)")
        init_workspace(config.workspace, classes, target=size["schedule"][0], engines=("bing",),
                       image_size=size["curate_size"], split=(0.6, 0.2, 0.2))
        ws = open_workspace(config.workspace)
        truth = replica_truth(site, ws)
        summary = self_train(ws, SelfTrainConfig(
            schedule=size["schedule"], threshold=size["threshold"], engine="bing", base_url=site.base_url,
            allow_private=True, image_size=size["image_size"], epochs=size["epochs"], batch_size=16,
            train_patience=size["patience"], patience=2, workers=4, test=TEST, candidate_factor=1.5,
            baseline=True), notify=notify, truth=truth)
    report = build_report(ws)
    return DemoResult(ws, summary, report, classes)
