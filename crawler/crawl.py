"""The crawl: search engines for each class until it has N unique, valid, stored images.

For each class the plan is: its queries, then its expansions (synonyms, translations), then the
queries with suffixes (" photo", ...), on the chosen engine, then on the other configured engines.
Each step collects URL proposals (browser), queues them as candidate rows, downloads them in batches no larger
than what is still needed, and re-counts. A class that runs out of steps ends with a shortfall.
A URL list (`--urls`) skips the browser and downloads the list.
"""

from __future__ import annotations

import csv
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from crawler.browser import BrowserConfig
from crawler.proposal import UrlProposal
from crawler.downloader import Downloader, DownloadSummary
from crawler.errors import BrowserError, CrawlerError
from crawler.http import HttpPolicy
from crawler.requeue import requeue_failures
from workspace.catalog import Catalog, utc_now
from workspace.config import WorkspaceConfig, known_engines
from workspace.images import VALID_STATUSES, ImageStatus, LabelSource, count_in_class, label_source
from workspace.layout import Workspace
from workspace.manifest import EngineYield, engine_yield
from workspace.progress import Progress
from workspace.stage_runs import stage_run
from workspace.storage import clean_temp

log = logging.getLogger(__name__)

# (engine name, query, base_url, limit) -> URL proposals in result order
ProposalSource = Callable[[str, str, str | None, int], Iterable[UrlProposal]]


@dataclass(frozen=True)
class CrawlConfig:
    engine: str | None = None               # None: the workspace's engines, in order
    per_class: int | None = None            # None: each class's target from the config
    base_url: str | None = None
    classes: tuple[str, ...] | None = None
    urls_file: Path | None = None
    url_class: str | None = None
    allow_thumbnails: bool = False
    workers: int = 8
    oversample: float = 2.0                 # URLs proposed per image still needed
    max_per_query: int = 1000
    suffixes: tuple[str, ...] = (" photo", " picture", " image")
    label_source: str = LabelSource.QUERY
    retry_failed: bool = False              # also retry permanent failures (http_404, bad_url, ...)
    cluster: str | None = None              # Dask scheduler address or local[N]: URL-list shards on its workers
    browser: BrowserConfig = field(default_factory=BrowserConfig)
    http: HttpPolicy = field(default_factory=HttpPolicy)

    def __post_init__(self) -> None:
        label_source(self.label_source)  # an unknown one: one clear line, before anything is stored
        if self.engine is not None and self.engine not in known_engines():
            raise CrawlerError(f"unknown engine {self.engine!r}; known: {', '.join(known_engines())}")
        if self.per_class is not None and self.per_class < 1:
            raise CrawlerError(f"--per-class must be >= 1, got {self.per_class}")
        if self.workers < 1 or self.workers > 64:
            raise CrawlerError(f"--workers must be between 1 and 64, got {self.workers}")
        if self.oversample < 1:
            raise CrawlerError(f"oversample must be >= 1, got {self.oversample}")
        if self.cluster and self.urls_file is None:
            raise CrawlerError("--cluster downloads URL lists (--urls FILE); browsers scale out through "
                               "Selenium Grid (--remote)")


@dataclass(frozen=True)
class ClassResult:
    name: str
    target: int
    before: int
    after: int

    @property
    def shortfall(self) -> int:
        return max(0, self.target - self.after)


@dataclass(frozen=True)
class CrawlSummary:
    classes: tuple[ClassResult, ...]
    engines: tuple[EngineYield, ...]
    downloaded: int
    cancelled: bool = False
    retried: dict[str, int] = field(default_factory=dict)  # earlier failures put back, by old reason

    @property
    def shortfall(self) -> int:
        return sum(c.shortfall for c in self.classes)


def count_valid(catalog: Catalog, class_name: str, include_unjudged: bool = False) -> int:
    """Unique, valid, stored images of a class (any label source); with `include_unjudged`, also
    the self-training candidates of that class still waiting to be judged."""
    statuses = (*VALID_STATUSES, ImageStatus.UNLABELLED) if include_unjudged else VALID_STATUSES
    return count_in_class(catalog, class_name, statuses)


def query_plan(config: WorkspaceConfig, class_name: str, crawl: CrawlConfig) -> Iterator[tuple[str, str]]:
    """(engine, query) steps for a class, in the order they are tried."""
    spec = config.class_spec(class_name)
    base_queries = list(dict.fromkeys((*spec.queries, *spec.expansions)))
    queries = base_queries + [q + s for s in crawl.suffixes for q in base_queries]
    engines = [crawl.engine] if crawl.engine else []
    engines += [e for e in config.engines if e not in engines]
    if crawl.base_url and crawl.engine:
        engines = [crawl.engine]  # a base URL belongs to one engine; others would hit the web
    for engine in engines:
        for query in queries:
            yield engine, query


def queue_proposals(catalog: Catalog, class_name: str, proposals: Iterable[UrlProposal],
                      allow_thumbnails: bool, job_id: int | None = None) -> int:
    """Queue proposals for download as new rows of the `candidates` table (known (url, class) pairs are
    ignored); returns how many."""
    added = 0
    now = utc_now()
    with catalog.transaction() as conn:
        for c in proposals:
            skip = c.is_thumbnail and not allow_thumbnails
            cursor = conn.execute(
                "INSERT OR IGNORE INTO candidates (url, class, thumbnail_url, page_url, title, engine,"
                " query, width, height, is_thumbnail, found_at, status, reason, job_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (c.url, class_name, c.thumbnail_url, c.page_url, (c.title or "")[:500] or None,
                 c.engine, c.query, c.width, c.height, int(c.is_thumbnail), now,
                 "skipped" if skip else "pending", "thumbnail_only" if skip else None, job_id),
            )
            added += cursor.rowcount
    return added


class BrowserSource:
    """Collects URL proposals with one browser per job, opened when first needed, always quit."""

    def __init__(self, config: BrowserConfig, stack: ExitStack) -> None:
        self.config, self.stack, self.driver = config, stack, None

    def __call__(self, engine_name: str, query: str, base_url: str | None, limit: int) -> Iterable[UrlProposal]:
        from crawler.browser import open_browser
        from crawler.engines import get_engine
        from crawler.scan import search_candidates

        engine = get_engine(engine_name)
        if self.driver is None:
            self.driver = self.stack.enter_context(open_browser(self.config))
        return list(search_candidates(self.driver, engine, query, base_url=base_url, limit=limit))


def crawl(ws: Workspace, config: CrawlConfig, *, progress: Progress | None = None,
          cancel: threading.Event | None = None, source: ProposalSource | None = None,
          job_id: int | None = None) -> CrawlSummary:
    """Run a crawl (engines or a URL list) and return per-class and per-engine results."""
    cancel = cancel or threading.Event()
    ws_config = ws.config()
    names = list(config.classes) if config.classes else ws_config.class_names
    for name in names:
        ws_config.class_spec(name)  # unknown class: clear error
    params = {"engine": config.engine, "per_class": config.per_class, "urls_file": str(config.urls_file or "")}
    with ws.catalog() as catalog, ExitStack() as stack, stage_run(catalog, "crawl", params) as stage:
        clean_temp(ws)
        downloader = stack.enter_context(_downloader(ws, catalog, config))
        unjudged = config.label_source == LabelSource.CANDIDATE
        before = {n: count_valid(catalog, n, unjudged) for n in names}
        retried = requeue_failures(catalog, names, config.http, config.allow_thumbnails, config.retry_failed)
        if retried:
            log.info("retrying %d earlier failures: %s", sum(retried.values()), retried)
        if config.urls_file is not None:
            downloaded = _crawl_url_list(catalog, downloader, config, names, cancel, progress, job_id)
        else:
            source = source or BrowserSource(config.browser, stack)
            downloaded = 0
            for done, name in enumerate(names):
                if cancel.is_set():
                    break
                target = config.per_class or ws_config.class_spec(name).target
                downloaded += _crawl_class(catalog, downloader, ws_config, config, name, target,
                                           source, cancel, job_id)
                if progress:
                    progress(done + 1, len(names))
        results = tuple(
            ClassResult(n, config.per_class or ws_config.class_spec(n).target, before[n],
                        count_valid(catalog, n, unjudged))
            for n in names)
        summary = CrawlSummary(results, tuple(engine_yield(catalog)), downloaded, cancel.is_set(), retried)
        stage.finish({"downloaded": downloaded, "shortfall": summary.shortfall, "cancelled": summary.cancelled,
                      "retried": retried})
    return summary


def _downloader(ws: Workspace, catalog: Catalog, config: CrawlConfig) -> AbstractContextManager[Downloader]:
    """This machine's download threads, or (`--cluster`) shards on a probed Dask cluster."""
    if config.cluster:
        from cluster.downloads import cluster_downloader

        return cluster_downloader(ws, catalog, config.http, config.cluster, config.label_source)
    return Downloader(ws, catalog, config.http, config.workers, label_source=config.label_source)


def _crawl_class(catalog: Catalog, downloader: Downloader, ws_config: WorkspaceConfig,
                 config: CrawlConfig, name: str, target: int, source: ProposalSource,
                 cancel: threading.Event, job_id: int | None) -> int:
    unjudged = config.label_source == LabelSource.CANDIDATE
    downloaded = _download_needed(catalog, downloader, name, target, cancel, unjudged)
    for engine, query in query_plan(ws_config, name, config):
        need = target - count_valid(catalog, name, unjudged)
        if need <= 0 or cancel.is_set():
            break
        known = int(catalog.scalar(
            "SELECT COUNT(*) FROM candidates WHERE class = ? AND engine = ? AND query = ?",
            (name, engine, query)))
        limit = min(config.max_per_query, known + max(int(need * config.oversample), need + 5))
        base_url = config.base_url if engine == config.engine else None
        try:
            found = list(source(engine, query, base_url, limit))
        except BrowserError:
            raise
        except CrawlerError as exc:
            log.warning("%s: %s; trying the next query/engine", engine, exc)
            continue
        added = queue_proposals(catalog, name, found, config.allow_thumbnails, job_id)
        log.info("%s %r: %d results, %d new candidates for %s", engine, query, len(found), added, name)
        downloaded += _download_needed(catalog, downloader, name, target, cancel, unjudged)
    return downloaded


def _download_needed(catalog: Catalog, downloader: Downloader, name: str, target: int,
                     cancel: threading.Event, unjudged: bool = False) -> int:
    """Download pending candidates of a class in batches of what is still needed."""
    downloaded = 0
    while not cancel.is_set():
        need = target - count_valid(catalog, name, unjudged)
        rows = downloader.pending(name, limit=need) if need > 0 else []
        if not rows:
            return downloaded
        summary: DownloadSummary = downloader.download(rows, cancel=cancel)
        downloaded += summary.stored
    return downloaded


def _crawl_url_list(catalog: Catalog, downloader: Downloader, config: CrawlConfig, names: list[str],
                    cancel: threading.Event, progress: Progress | None, job_id: int | None) -> int:
    assert config.urls_file is not None
    by_class: dict[str, list[UrlProposal]] = {}
    for url, class_name in read_url_list(config.urls_file, config.url_class):
        if class_name not in names:
            raise CrawlerError(f"{config.urls_file}: class {class_name!r} is not in this workspace "
                               f"({', '.join(names)})")
        by_class.setdefault(class_name, []).append(UrlProposal(url=url, engine="urls"))
    for class_name, proposals in by_class.items():
        queue_proposals(catalog, class_name, proposals, allow_thumbnails=True, job_id=job_id)
    if config.per_class:
        return sum(_download_needed(catalog, downloader, name, config.per_class, cancel) for name in by_class)
    rows = [r for r in downloader.pending() if r["class"] in by_class]
    return downloader.download(rows, cancel=cancel, progress=progress).stored


def read_url_list(path: Path, default_class: str | None) -> list[tuple[str, str]]:
    """CSV/TSV with `url` and `class` columns, or one URL per line (class from --class)."""
    if not path.is_file():
        raise CrawlerError(f"URL list not found: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise CrawlerError(f"URL list {path} is empty")
    delimiter = "\t" if "\t" in lines[0] else ","
    header = [h.strip().lower() for h in lines[0].split(delimiter)]
    if "url" in header:
        rows = list(csv.DictReader(lines, delimiter=delimiter))
        pairs = []
        for number, row in enumerate(rows, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            class_name = row.get("class") or default_class
            if not class_name:
                raise CrawlerError(f"{path}:{number}: no class (add a class column or pass --class)")
            if row.get("url"):
                pairs.append((row["url"], class_name))
        return pairs
    if not default_class:
        raise CrawlerError(f"{path} is a plain URL list: pass --class to say which class it is")
    return [(line.strip(), default_class) for line in lines]
