"""The replica search site: a stdlib ThreadingHTTPServer in a background thread serving
FOLDER/<class>/* through pages built like each engine's, plus the truth map."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from crawler.engines import bing as bing_engine
from crawler.errors import CrawlerError
from replica import media
from replica.config import ReplicaConfig
from replica.pages import PageContext, Response, html_response, json_response
from replica.pages import bing, duckduckgo, gallery, google, naver
from replica.results import ReplicaItem, ResultIndex

log = logging.getLogger(__name__)

SEARCH_ROUTES = {
    bing_engine.SEARCH_PATH: bing.search_page, bing_engine.ASYNC_PATH: bing.async_page,
    "/i.js": duckduckgo.results_json, "/search.naver": naver.search_page,
    "/search": google.search_page, "/imgres": google.imgres_page, "/gallery": gallery.gallery_page,
}
QUERY_PARAMS = ("q", "query")


class ReplicaSite:
    """Context manager serving the replica on host:port (port 0 picks a free one)."""

    def __init__(self, config: ReplicaConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.index = ResultIndex(config)
        self.host, self.port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ReplicaSite:
        handler = type("BoundReplicaHandler", (ReplicaHandler,), {"site": self})
        try:
            self._server = ThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:
            raise CrawlerError(f"cannot serve the replica on {self.host}:{self.port}: "
                               f"{exc.strerror}") from None
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="replica-site",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        log.info("replica site serving %s at %s", self.config.folder, self.base_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ReplicaSite:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def results(self, query: str) -> list[ReplicaItem]:
        """The full result list a query gets (every image of its class plus the noise)."""
        return self.index.results(query)

    def truth(self, base: str | None = None) -> dict[str, dict]:
        """Collected URL -> {"class", "file", "kind"} for every result of every class."""
        origin = base or self.base_url
        return {origin + (item.full_path if item.has_full else item.thumb_path): {
            "class": item.true_class, "kind": item.kind,
            "file": _relative(item.file, self.config) if item.file else None,
        } for item in self.index.all_items()}


class ReplicaHandler(BaseHTTPRequestHandler):
    site: ReplicaSite
    server_version = "HarvestReplica/1.0"

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self.respond(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self.respond(head=True)

    def respond(self, head: bool) -> None:
        parts = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if parts.path != "/__replica/truth.json" and self.site.config.slow_ms:
            time.sleep(self.site.config.slow_ms / 1000)  # the "slow responses" knob, server side
        response = self.route(parts.path, params)
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if not head:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client went away during %s", self.path)

    def route(self, path: str, params: dict[str, str]) -> Response:
        base = f"http://{self.headers.get('Host') or f'{self.site.host}:{self.site.port}'}"
        if path == "/__replica/truth.json":
            return json_response(self.site.truth(base))
        if path.startswith("/img/"):
            item = self.site.index.item(path[5:].split(".", 1)[0])
            return Response(*media.full_image(item)) if item else not_found()
        if path == "/th":
            item = self.site.index.item(params.get("id", ""))
            return Response(200, "image/jpeg", media.thumbnail(item)) if item else not_found()
        if path.startswith("/source/"):
            item = self.site.index.item(path[8:].split(".", 1)[0])
            return gallery.source_page(self.context(base, params), item) if item else not_found()
        if path == "/" and "q" in params:
            return duckduckgo.search_page(self.context(base, params))
        if path == "/":
            return self.index_page()
        builder = SEARCH_ROUTES.get(path)
        return builder(self.context(base, params)) if builder else not_found()

    def context(self, base: str, params: dict[str, str]) -> PageContext:
        query = next((params[k] for k in QUERY_PARAMS if params.get(k)), "")
        return PageContext(base=base, query=query, params=params, items=self.site.results(query),
                           per_page=self.site.config.per_page)

    def index_page(self) -> Response:
        links = "".join(f"<li>{name}: <a href='/images/search?q={name}'>bing</a> "
                        f"<a href='/?q={name}&amp;iax=images&amp;ia=images'>duckduckgo</a> "
                        f"<a href='/search.naver?where=image&amp;query={name}'>naver</a> "
                        f"<a href='/search?q={name}&amp;tbm=isch'>google</a> "
                        f"<a href='/gallery?q={name}'>page</a></li>" for name in self.site.index.classes)
        return html_response(f"<!DOCTYPE html><html><body><h1>Harvest replica</h1><ul>{links}</ul>"
                             "<p><a href='/__replica/truth.json'>truth.json</a></p></body></html>")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.debug("replica: " + format, *args)


def not_found() -> Response:
    return html_response("<h1>404 Not Found</h1>", status=404)


__all__ = ["ReplicaConfig", "ReplicaSite"]


def _relative(file: Path, config: ReplicaConfig) -> str:
    """A served file's path relative to the folder it came from (the off-class pool's, for those)."""
    for folder in (config.folder, config.offclass_folder):
        if folder is not None and file.is_relative_to(folder):
            return file.relative_to(folder).as_posix()
    return file.name
