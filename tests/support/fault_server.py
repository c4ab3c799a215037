"""A local HTTP server with named misbehaviour routes, for downloader and reliability tests.

    with FaultServer(images={"a.jpg": bytes}) as server:
        server.url("/ok/a.jpg"); server.hits["/ok/a.jpg"]

Routes (the last path segment names an image in `images` where one is needed):
    /ok/<name>                 200 image/jpeg
    /slow/<name>?ms=N          200 after N ms
    /gate/<name>               200 once the test opens `server.gate` (or the server stops)
    /drip/<name>               one byte every 0.5 s
    /hang/<name>               headers, then nothing
    /flaky/<name>?fail=N       500 for the first N hits, then 200
    /ratelimit/<name>?after=S  429 Retry-After: S on the first hit, then 200
    /reset/<name>              connection reset mid-body
    /loop/<n>                  redirects to /loop/<n+1> forever
    /redirect?to=URL           302 to URL
    /huge                      endless body claiming image/jpeg
    /liar/<name>               Content-Length larger than the body, then close
    /wrongtype/<name>          image bytes served as text/html
    /html.jpg                  HTML served as image/jpeg
    /truncated/<name>          first half of the image
    /noai/<name>               X-Robots-Tag: noai
    /status/<code>             that status code
    /file/<name>               any bytes from `files` as application/octet-stream
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
import traceback
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def _quiet_handle_error(request: object, client_address: object) -> None:
    """A client that left mid-response (resets, timeouts) is the point of these routes, not an
    error worth a traceback; anything else is still printed."""
    if not isinstance(sys.exc_info()[1], (ConnectionError, ValueError, TimeoutError)):
        traceback.print_exc()


class FaultServer:
    def __init__(self, images: dict[str, bytes] | None = None, files: dict[str, bytes] | None = None) -> None:
        self.images = dict(images or {})
        self.files = dict(files or {})
        self.hits: Counter[str] = Counter()
        self.completed: Counter[str] = Counter()   # bodies fully written
        self.active = 0                            # requests waiting for their answer now ...
        self.peak = 0                              # ... and the most there ever were at once
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.gate = threading.Event()   # /gate/ requests wait for it: a test decides when they end
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.handle_error = _quiet_handle_error  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _count(self, path: str, completed: bool = False) -> None:
        with self._lock:
            (self.completed if completed else self.hits)[path] += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                return

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                segments = [s for s in parts.path.split("/") if s]
                server._count(parts.path)
                with server._lock:
                    server.active += 1
                    server.peak = max(server.peak, server.active)
                self.awaiting = True
                try:
                    self.answer(parts.path, segments, query)
                finally:
                    self.answered()

            def answered(self) -> None:
                """This request no longer waits for its answer: called as its response starts, so
                a client that has read the answer can never be counted beside its next request."""
                if self.awaiting:
                    self.awaiting = False
                    with server._lock:
                        server.active -= 1

            def answer(self, path: str, segments: list[str], query: dict) -> None:
                route = segments[0] if segments else ""
                name = segments[-1] if segments else ""
                try:
                    getattr(self, f"route_{route}", self.route_missing)(name, query, path)
                except (BrokenPipeError, ConnectionResetError, ValueError):
                    self.close_connection = True  # the route closed or the client left

            def send_body(self, body: bytes, ctype: str = "image/jpeg", status: int = 200,
                          headers: dict[str, str] | None = None, path: str = "") -> None:
                self.answered()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                if path:
                    server._count(path, completed=True)

            def image(self, name: str) -> bytes | None:
                return server.images.get(name)

            def route_missing(self, name: str, query: dict, path: str) -> None:
                self.send_body(b"not found", "text/plain", 404)

            def route_ok(self, name: str, query: dict, path: str) -> None:
                body = self.image(name)
                if body is None:
                    return self.route_missing(name, query, path)
                self.send_body(body, path=path)

            def route_file(self, name: str, query: dict, path: str) -> None:
                body = server.files.get(name)
                if body is None:
                    return self.route_missing(name, query, path)
                self.send_body(body, "application/octet-stream", path=path)

            def route_slow(self, name: str, query: dict, path: str) -> None:
                server._stop.wait(int(query.get("ms", "500")) / 1000)
                self.route_ok(name, query, path)

            def route_gate(self, name: str, query: dict, path: str) -> None:
                while not (server.gate.wait(0.1) or server._stop.is_set()):
                    pass
                self.route_ok(name, query, path)

            def route_drip(self, name: str, query: dict, path: str) -> None:
                body = self.image(name) or b"\xff\xd8\xff" + b"\0" * 100
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for byte in body:
                    if server._stop.wait(0.5):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()

            def route_hang(self, name: str, query: dict, path: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.flush()
                server._stop.wait(120)

            def route_flaky(self, name: str, query: dict, path: str) -> None:
                if server.hits[path] <= int(query.get("fail", "1")):
                    return self.send_body(b"oops", "text/plain", 500)
                self.route_ok(name, query, path)

            def route_ratelimit(self, name: str, query: dict, path: str) -> None:
                if server.hits[path] <= 1:
                    return self.send_body(b"slow down", "text/plain", 429,
                                          {"Retry-After": query.get("after", "1")})
                self.route_ok(name, query, path)

            def route_reset(self, name: str, query: dict, path: str) -> None:
                body = self.image(name) or b"\xff\xd8\xff" + b"\0" * 5000
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 3])
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.wfile.close()
                self.rfile.close()
                self.connection.close()  # linger 0: the peer sees a reset, not a clean end

            def route_loop(self, name: str, query: dict, path: str) -> None:
                step = int(name) if name.isdigit() else 0
                self.send_response(302)
                self.send_header("Location", f"/loop/{step + 1}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def route_redirect(self, name: str, query: dict, path: str) -> None:
                self.send_response(302)
                self.send_header("Location", query.get("to", "/"))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def route_huge(self, name: str, query: dict, path: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.end_headers()
                self.close_connection = True
                chunk = b"\xff\xd8\xff\xe0" + b"\0" * 65532
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not server._stop.is_set():
                    self.wfile.write(chunk)

            def route_liar(self, name: str, query: dict, path: str) -> None:
                body = self.image(name) or b""
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body) * 2 + 10))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def route_wrongtype(self, name: str, query: dict, path: str) -> None:
                body = self.image(name)
                if body is None:
                    return self.route_missing(name, query, path)
                self.send_body(body, "text/html", path=path)

            def route_truncated(self, name: str, query: dict, path: str) -> None:
                body = self.image(name) or b""
                self.send_body(body[: len(body) // 2], path=path)

            def route_noai(self, name: str, query: dict, path: str) -> None:
                self.send_body(self.image(name) or b"", headers={"X-Robots-Tag": "noai, noimageai"}, path=path)

            def route_status(self, name: str, query: dict, path: str) -> None:
                self.send_body(b"status", "text/plain", int(name) if name.isdigit() else 400)

            def route_html_jpg(self, name: str, query: dict, path: str) -> None:
                self.send_body(b"<!DOCTYPE html><html><body>not an image</body></html>", "image/jpeg")

        setattr(Handler, "route_html.jpg", Handler.route_html_jpg)
        return Handler
