"""A corpus of hostile and unusual image files, generated (no binary fixtures in the repo).

`corpus(folder)` writes every kind and returns {file name: expectation}; an expectation is
"reject" (any recorded reason), "ok" (a correct normalised image), or "either" (decoders differ:
a reason or a correct image are both fine, a crash is not).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(size=(120, 80)) -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    y = np.linspace(0, 255, size[1], dtype=np.uint8)
    arr = np.stack([np.tile(x, (size[1], 1)), np.tile(y[:, None], (1, size[0])),
                    np.full((size[1], size[0]), 128, np.uint8)], axis=-1)
    return Image.fromarray(arr, "RGB")


def png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    value = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", value & 0xFFFFFFFF)


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """Huge dimensions, tiny file: 1-bit greyscale, a few compressed rows."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    raw = zlib.compress(b"\0" * ((width // 8 + 1) * 64), 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", raw) + png_chunk(b"IEND", b"")


def with_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return _jpeg(photo(), exif=exif)


def corpus(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    base = _jpeg(photo())
    png = _save(photo(), "PNG")
    files: dict[str, tuple[bytes, str]] = {
        "zero.jpg": (b"", "reject"),
        "text.jpg": (b"hello, not a picture\n" * 4, "reject"),
        "page.jpg": (b"<!DOCTYPE html><html><body><img src=x></body></html>", "reject"),
        "data.jpg": (b'{"images": ["a.jpg"], "note": "json served as jpeg"}', "reject"),
        "truncated.jpg": (base[: len(base) // 2], "reject"),
        "truncated.png": (png[: len(png) // 2], "reject"),
        "huffman.jpg": (base[:200] + bytes(b ^ 0x5A for b in base[200:600]) + base[600:], "either"),
        "badcrc.png": (png[:33] + png_chunk(b"IDAT", zlib.compress(b"\0" * 100), crc=1) + png_chunk(b"IEND", b""), "reject"),
        "bomb.png": (bomb_png(), "reject"),
        "one_pixel.png": (_save(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), "reject"),
        "sliver.png": (_save(Image.new("RGB", (10000, 10), (90, 9, 9)), "PNG"), "reject"),
        "cmyk.jpg": (_jpeg(photo().convert("CMYK")), "ok"),
        "cmyk_adobe.jpg": (_jpeg(photo().convert("CMYK"), quality=70), "ok"),
        "sixteen.png": (_save(Image.fromarray((np.arange(80 * 120).reshape(80, 120) * 7).astype(np.uint16)), "PNG"), "ok"),
        "palette_alpha.png": (_save(photo().convert("P"), "PNG", transparency=3), "ok"),
        "rgba.png": (_save(photo().convert("RGBA"), "PNG"), "ok"),
        "la.png": (_save(photo().convert("LA"), "PNG"), "ok"),
        "animated.gif": (_save(photo(), "GIF", save_all=True, append_images=[photo().rotate(90)]), "ok"),
        "animated.webp": (_save(photo(), "WEBP", save_all=True, append_images=[photo().rotate(180)]), "ok"),
        "script.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "reject"),
        "svg_named.jpg": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "reject"),
        "image.tif": (_save(photo(), "TIFF"), "ok"),
        "image.bmp": (_save(photo(), "BMP"), "ok"),
        "icon.ico": (_save(photo((64, 64)), "ICO"), "ok"),
        "photo.heic": (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64, "reject"),
        "photo.avif": (b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf" + b"\0" * 64, "reject"),
        "huge_exif.jpg": (_jpeg(photo(), exif=b"Exif\0\0" + b"II*\0\x08\0\0\0\0\0" + b"\0" * 60000), "either"),
        "huge_icc.jpg": (_jpeg(photo(), icc_profile=b"\0" * 500_000), "ok"),
        "polyglot_jpeg_html.jpg": (base + b"<html><script>alert(1)</script></html>", "ok"),
        "polyglot_gif_js.gif": (b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=alert(1);", "reject"),
        "exe.jpg": (b"MZ\x90\x00" + b"\0" * 200, "reject"),
    }
    for orientation in range(1, 9):
        files[f"exif_orientation_{orientation}.jpg"] = (with_orientation(orientation), "ok")
    expectations = {}
    for name, (data, expect) in files.items():
        (folder / name).write_bytes(data)
        expectations[name] = expect
    return expectations


def expected_upright_size(name: str) -> tuple[int, int] | None:
    """EXIF orientations 5-8 swap width and height of the 120x80 photo."""
    if name.startswith("exif_orientation_"):
        value = int(name.rsplit("_", 1)[1].split(".")[0])
        return (80, 120) if value >= 5 else (120, 80)
    return None
