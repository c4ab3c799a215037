"""Image bytes behind the replica's URLs: originals, re-encoded copies, downsized thumbnails."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image

from replica.results import SERVED_TYPES, ReplicaItem

THUMB_SIZE = 160
BROKEN_HTML = (b"<!DOCTYPE html><html><head><title>Page not found</title></head>"
               b"<body><h1>Sorry, this image is no longer available</h1></body></html>")


def full_image(item: ReplicaItem) -> tuple[int, str, bytes]:
    """(status, content type, body) for an item's full-resolution URL."""
    if item.kind == "broken" or item.file is None:
        if item.broken_mode == "html":
            return 200, "text/html; charset=utf-8", BROKEN_HTML
        return 404, "text/html; charset=utf-8", BROKEN_HTML
    if item.kind == "reencoded":
        return 200, "image/jpeg", reencoded(item.file)
    content_type = SERVED_TYPES.get(item.file.suffix.lower(), "application/octet-stream")
    return 200, content_type, item.file.read_bytes()


def thumbnail(item: ReplicaItem) -> bytes:
    return _thumbnail(item.file) if item.file else placeholder()


@lru_cache(maxsize=4096)
def _thumbnail(path: Path) -> bytes:
    with Image.open(path) as image:
        image.draft("RGB", (THUMB_SIZE, THUMB_SIZE))
        small = image.convert("RGB")
        small.thumbnail((THUMB_SIZE, THUMB_SIZE))
        return encode(small, quality=70)


@lru_cache(maxsize=256)
def reencoded(path: Path) -> bytes:
    """A near duplicate: 90% size, lower JPEG quality (different bytes, same picture)."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        smaller = rgb.resize((max(1, rgb.width * 9 // 10), max(1, rgb.height * 9 // 10)))
        return encode(smaller, quality=75)


@lru_cache(maxsize=1)
def placeholder() -> bytes:
    return encode(Image.new("RGB", (THUMB_SIZE, THUMB_SIZE * 3 // 4), (200, 200, 200)), quality=70)


def encode(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
