"""Perceptual hashes behind one small interface. Each image gets pHash and dHash of itself and of
its mirror image, so a horizontally flipped copy matches too. Hashes are 64-bit, stored as 16 hex
digits; `as_int` turns them into numbers for the index.

For crops, each image also gets the pHash of 18 boxes, of 92 % and of 86 % of its width and height,
each on a 3x3 grid of positions: a copy with 3-15 % cut from its edges hashes close to one of its
original's boxes.
For the confirming pixel check, each image keeps a 32x32 grey thumbnail (1,024 bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from curation.resample import lanczos_weights, one_blas_thread, resize_grids, resize_whole

BOX_SCALES = (0.92, 0.86)
BOX_POSITIONS = (0.0, 0.5, 1.0)
BOXES = len(BOX_SCALES) * len(BOX_POSITIONS) ** 2
BOX_SOURCE = 96
THUMB_SIDE = 32


@dataclass(frozen=True)
class ImageHashes:
    phash: str
    phash_flip: str
    dhash: str
    dhash_flip: str


@dataclass(frozen=True)
class Signature:
    """Everything the duplicate judgement needs of one image, computed once at analysis."""

    hashes: ImageHashes
    crop_hashes: str       # BOXES 16-hex-digit pHashes, concatenated
    thumb: bytes           # THUMB_SIDE x THUMB_SIDE grey pixels, row by row


def image_hashes(image: Image.Image) -> ImageHashes:
    """Hashes of an upright image, RGB or grey (analysis hashes its grey analysis copy)."""
    return grey_hashes(image.convert("L"))


def grey_hashes(grey: Image.Image) -> ImageHashes:
    """pHash and dHash of a greyscale image and of its mirror, bit for bit imagehash's
    `phash`/`dhash` (LANCZOS to 32x32 or 9x8, DCT, low 8x8 above their median; neighbours
    compared), from two small resizes: Pillow's resampling is mirror-symmetric, so the mirror's
    small copy is the small copy reversed, and both pHashes come from one batched DCT. The
    resizes are Pillow's done as matrix products (curation.resample), ~2x cheaper."""
    small, strip = resize_whole(np.asarray(grey, dtype=np.float64), ((32, 32), (9, 8)))
    low = low_frequencies(np.stack([small, small[:, ::-1]]))
    phash, phash_flip = _hex(low > row_medians(low))
    mirrored = strip[:, ::-1]
    dhash, dhash_flip = _hex(np.stack([strip[:, 1:] > strip[:, :-1], mirrored[:, 1:] > mirrored[:, :-1]]))
    return ImageHashes(phash=phash, phash_flip=phash_flip, dhash=dhash, dhash_flip=dhash_flip)


def _dct_rows(size: int, count: int) -> np.ndarray:
    """The first `count` rows of the unnormalised DCT-II matrix of `size` points, the transform
    scipy.fft.dct makes by default and imagehash's pHash takes: 2 cos(pi k (2n + 1) / 2N)."""
    k = np.arange(count)[:, None]
    n = np.arange(size)[None, :]
    matrix = 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))
    matrix.setflags(write=False)
    return matrix


LOW_DCT = _dct_rows(32, 8)
EXACT_ZERO = 1e-7  # products of 8-bit pixels sit ~1e-10 off a coefficient that is exactly zero


def low_frequencies(squares: np.ndarray) -> np.ndarray:
    """The 8x8 lowest DCT-II coefficients of each 32x32 square (n, 32, 32), 64 a row, as two
    products with the 8 rows of the DCT matrix the corner needs: 5x cheaper than scipy's FFT
    transform, and no process loads scipy for it (0.3-0.5 s a worker). The products agree with
    the FFT to ~1e-10; only exact zeros (flat squares, constant rows or columns), which the FFT
    gives exactly and the products as rounding noise, could then fall on the other side of the
    median, so they are snapped to zero. Bit for bit imagehash on every photo and synthetic
    image tests/curation/test_hashing.py compares."""
    low = LOW_DCT @ squares @ LOW_DCT.T
    low[np.abs(low) < EXACT_ZERO] = 0.0
    return low.reshape(len(squares), 64)


def row_medians(low: np.ndarray) -> np.ndarray:
    """Each row's median, as a column: np.median's own steps (partition at the two middle
    values, their mean), without its checks and copies (a quarter of its time)."""
    middle = low.shape[1] // 2
    part = np.partition(low, (middle - 1, middle), axis=1)
    return (part[:, middle - 1:middle] + part[:, middle:middle + 1]) / 2


def _hex(bits: np.ndarray) -> list[str]:
    """One 16-hex-digit string per 64-bit row, row by row as imagehash writes its hex."""
    rows = np.packbits(bits.reshape(len(bits), 64), axis=1)
    return [row.tobytes().hex() for row in rows]


def crop_hashes(image: Image.Image) -> str:
    """pHashes of the boxes: per scale, the 3x3 grid of positions in row order. Computed as
    imagehash's pHash (32x32 LANCZOS, DCT, 8x8 low frequencies above their median) of each box,
    from a BOX_SOURCE-pixel grey copy; the 18 box resizes are Pillow's `resize(..., box=)` bit
    for bit, done as three matrix products (curation.resample: both scales' first pass as one,
    then one per scale), and all boxes share one batched DCT."""
    grey = image.convert("L") if image.mode != "L" else image
    if max(grey.size) > BOX_SOURCE:
        grey = grey.resize((min(grey.width, BOX_SOURCE), min(grey.height, BOX_SOURCE)), Image.Resampling.BOX)
    pixels = np.asarray(grey, dtype=np.float64)
    height, width = pixels.shape
    boxes = np.empty((len(BOX_SCALES), len(BOX_POSITIONS), len(BOX_POSITIONS), 32, 32))
    with one_blas_thread():
        grids = resize_grids(pixels, [(_box_axis(height, scale), _box_axis(width, scale)) for scale in BOX_SCALES])
        for n, grid in enumerate(grids):
            boxes[n] = grid
        low = low_frequencies(boxes.reshape(BOXES, 32, 32))
    return "".join(_hex(low > row_medians(low)))


@lru_cache(maxsize=512)
def _box_axis(size: int, scale: float) -> np.ndarray:
    """LANCZOS weights (positions, 32, size) of the boxes of one scale along an axis of `size`
    pixels, at BOX_POSITIONS; box edges computed as the crop boxes are."""
    extent = size * scale
    starts = [(size - extent) * position for position in BOX_POSITIONS]
    return np.stack([lanczos_weights(size, start, start + extent, 32) for start in starts])


def thumbnail(image: Image.Image) -> bytes:
    """The grey thumbnail the pixel check compares (aspect squashed, as pHash does)."""
    grey = image.convert("L") if image.mode != "L" else image
    return grey.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX).tobytes()


def signature(image: Image.Image) -> Signature:
    """All of an image's hashes and its thumbnail, from one greyscale copy (the image itself
    when it is greyscale: the analysis copy is)."""
    grey = image if image.mode == "L" else image.convert("L")
    with one_blas_thread():
        return Signature(grey_hashes(grey), crop_hashes(grey), thumbnail(grey))


def split_crop_hashes(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    return tuple(int(text[k:k + 16], 16) for k in range(0, len(text), 16))


def as_int(hex_hash: str) -> int:
    return int(hex_hash, 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def distances(a: ImageHashes, b: ImageHashes) -> tuple[int, int, bool]:
    """(pHash distance, dHash distance, mirrored): the orientation with the closer pHash, and the
    dHash distance in that same orientation."""
    straight = hamming(as_int(a.phash), as_int(b.phash)), hamming(as_int(a.dhash), as_int(b.dhash))
    mirrored = hamming(as_int(a.phash), as_int(b.phash_flip)), hamming(as_int(a.dhash), as_int(b.dhash_flip))
    if mirrored < straight:
        return mirrored[0], mirrored[1], True
    return straight[0], straight[1], False


def is_near_duplicate(a: ImageHashes, b: ImageHashes, threshold: int) -> bool:
    """The hash-only rule used before issue 14 (now the ceiling of what can be a candidate): pHash
    within `threshold` and dHash agreeing (same orientation), or a slightly larger pHash distance
    backed by a closer dHash (small crops)."""
    for b_phash, b_dhash in ((b.phash, b.dhash), (b.phash_flip, b.dhash_flip)):
        p = hamming(as_int(a.phash), as_int(b_phash))
        d = hamming(as_int(a.dhash), as_int(b_dhash))
        if (p <= threshold and d <= threshold + 6) or (p <= threshold + 2 and d <= threshold + 4):
            return True
    return False
