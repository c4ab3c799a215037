"""Page builders: each module renders one engine's pages from a PageContext."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from html import escape
from typing import Any

from replica.results import ReplicaItem


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class PageContext:
    """One request for a results page: the site origin, the query and its (possibly empty) results."""

    base: str
    query: str
    params: dict[str, str]
    items: list[ReplicaItem]
    per_page: int

    def url(self, path: str) -> str:
        return self.base + path

    def int_param(self, name: str, default: int, minimum: int = 0) -> int:
        try:
            return max(minimum, int(self.params.get(name, default)))
        except ValueError:
            return default

    @property
    def vqd(self) -> str:
        digest = hashlib.sha256(f"vqd|{self.query.strip().lower()}".encode()).hexdigest()
        return "4-" + str(int(digest[:24], 16))


def html_response(text: str, status: int = 200) -> Response:
    return Response(status, "text/html; charset=utf-8", text.encode("utf-8"))


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, "application/json; charset=utf-8", json.dumps(value).encode("utf-8"))


def attr(value: object) -> str:
    """An attribute value, escaped for double quotes (JSON inside becomes &quot;...)."""
    return escape(str(value), quote=True)


def document(title: str, body: str, script: str = "", style: str = "") -> str:
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>body{{font-family:sans-serif;margin:0}}{style}</style></head><body>{body}"
            f"{f'<script>{script}</script>' if script else ''}</body></html>")
