"""Is this file an image we can use? Content sniffing and a bounded decode of the whole file.

Shared by `import` and the downloader so both record the same reasons. The format comes from
magic bytes, never from a file name or a Content-Type header.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from workspace.errors import HarvestError

# decompression-bomb guard (harvest.json "max_pixels"): admits 108 MP phone photos (12032x9024),
# refuses the 1 GP+ images of pixel-flood files
DEFAULT_MAX_PIXELS = 150_000_000
# JPEGs are checked with the reduced (DCT-scaled) decode curation's analysis uses: every byte of
# the file is still read and entropy-decoded, but only pixels down to this side are made.
CHECK_SIDE = 256

# format name -> file extension used in storage
EXTENSIONS = {"jpeg": "jpg", "png": "png", "gif": "gif", "webp": "webp", "bmp": "bmp",
              "tiff": "tif", "ico": "ico", "heif": "heic", "avif": "avif"}
DECODABLE = {"jpeg", "png", "gif", "webp", "bmp", "tiff", "ico"}
# The one list of image file-name suffixes: the photo formats above that Harvest decodes, for
# picking files out of a folder by name (predict's inputs). Icons decode too but are not photos,
# so a folder's .ico files are not picked. Ingest never goes by a name: it sniffs the bytes. Two
# narrower or wider lists say what they mean instead: `crawler.engines.page.IMAGE_LINK_SUFFIXES`
# and `replica.results.SERVED_TYPES`.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


class InvalidImage(HarvestError):
    """The bytes are not a usable image; `reason` is the machine-readable catalog reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageInfo:
    format: str  # sniffed: jpeg, png, gif, webp, bmp, tiff, ico
    width: int
    height: int
    frames: int = 1
    phash: str | None = None  # 16 hex digits, of the upright image; curation may refine

    @property
    def ext(self) -> str:
        return EXTENSIONS[self.format]


def sniff_format(head: bytes) -> str | None:
    """The image format named by the first bytes, or None. Needs at least 32 bytes to be sure."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM" and len(head) >= 26:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:4] == b"\x00\x00\x01\x00":
        return "ico"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "avif"
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "heif"
    return None


def describe_non_image(head: bytes) -> str:
    """A reason for bytes that are not a raster image (what they look like instead)."""
    text = head.lstrip().lower()
    if not head:
        return "empty_file"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "unsupported_format"
    return "not_an_image"


def inspect_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Sniff and decode one file (JPEG at reduced scale); raises InvalidImage with a catalog reason."""
    return _decode(path, sniff_file(path), max_pixels)


def sniff_file(path: Path) -> str:
    """The decodable format of a file by its magic bytes; raises InvalidImage otherwise."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise InvalidImage("unreadable", str(exc)) from None
    fmt = sniff_format(head)
    if fmt is None:
        raise InvalidImage(describe_non_image(head))
    if fmt not in DECODABLE:
        raise InvalidImage("unsupported_format", f"{fmt} needs a decoder plugin")
    return fmt


# What Pillow raises on hostile or broken files while opening or decoding them.
PILLOW_FAILURES = (Image.DecompressionBombError, Image.DecompressionBombWarning, OSError, ValueError,
                   SyntaxError, EOFError, IndexError, TypeError, MemoryError)


def failure_reason(exc: BaseException) -> tuple[str, str]:
    """(catalog reason, detail) for an exception in PILLOW_FAILURES; shared by every decoder."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return "decompression_bomb", str(exc)
    if isinstance(exc, UnidentifiedImageError):
        return "decode_error", "Pillow cannot identify it"
    if isinstance(exc, OSError):
        return ("truncated" if "truncated" in str(exc).lower() else "decode_error"), str(exc)
    return "decode_error", f"{type(exc).__name__}: {exc}"


def use_pixel_limit(max_pixels: int) -> None:
    """Pillow's own bomb check (a warning above MAX_IMAGE_PIXELS, made an error here) follows
    Harvest's limit, so one setting decides at import, download and curate alike."""
    Image.MAX_IMAGE_PIXELS = max_pixels


@contextmanager
def _opened(path: Path, max_pixels: int) -> Iterator[Image.Image]:
    """The file opened by Pillow under Harvest's pixel limit; whatever Pillow raises while it is
    open (opening, reading the header, decoding) becomes InvalidImage with its catalog reason."""
    use_pixel_limit(max_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                yield image
        except PILLOW_FAILURES as exc:
            raise InvalidImage(*failure_reason(exc)) from None


def _decode(path: Path, fmt: str, max_pixels: int) -> ImageInfo:
    with _opened(path, max_pixels) as image:
        width, height, frames = _header(image, max_pixels)
        if fmt == "jpeg":
            image.draft("RGB", (CHECK_SIDE, CHECK_SIDE))
        image.load()
        phash = perceptual_hash(image)
    return ImageInfo(format=fmt, width=width, height=height, frames=frames, phash=phash)


def _header(image: Image.Image, max_pixels: int) -> tuple[int, int, int]:
    """Width, height and frame count of an opened image; refuses empty sizes and bombs."""
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidImage("decode_error", f"size {width}x{height}")
    if width * height > max_pixels:
        raise InvalidImage("decompression_bomb", f"{width}x{height} pixels")
    return width, height, int(getattr(image, "n_frames", 1) or 1)


def perceptual_hash(image: Image.Image) -> str | None:
    """imagehash's pHash (computed as curation computes it) of the upright image as 16 hex
    digits, None if it cannot be computed."""
    from curation.hashing import grey_hashes  # numpy: loaded by the first image, not by the CLI

    try:
        upright = ImageOps.exif_transpose(image)
        return grey_hashes(upright.convert("RGB").convert("L")).phash
    except (OSError, ValueError, TypeError, SyntaxError):
        return None
