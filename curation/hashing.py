"""Perceptual hashes behind one small interface. Each image gets pHash and dHash of itself and of
its mirror image, so a horizontally flipped copy matches too. Hashes are 64-bit, stored as 16 hex
digits; `as_int` turns them into numbers for the index."""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
from PIL import Image, ImageOps


@dataclass(frozen=True)
class ImageHashes:
    phash: str
    phash_flip: str
    dhash: str
    dhash_flip: str


def image_hashes(image: Image.Image) -> ImageHashes:
    """Hashes of an upright RGB image (see curation.validate.open_normalized)."""
    mirror = ImageOps.mirror(image)
    return ImageHashes(
        phash=str(imagehash.phash(image)), phash_flip=str(imagehash.phash(mirror)),
        dhash=str(imagehash.dhash(image)), dhash_flip=str(imagehash.dhash(mirror)),
    )


def as_int(hex_hash: str) -> int:
    return int(hex_hash, 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def is_near_duplicate(a: ImageHashes, b: ImageHashes, threshold: int) -> bool:
    """The verified rule: pHash within `threshold` and dHash agreeing (same orientation), or a
    slightly larger pHash distance backed by a closer dHash (small crops). Tuned on the flowers
    photos with resize / JPEG 30 / crop / brightness / overlay / flip / greyscale copies."""
    for b_phash, b_dhash in ((b.phash, b.dhash), (b.phash_flip, b.dhash_flip)):
        p = hamming(as_int(a.phash), as_int(b_phash))
        d = hamming(as_int(a.dhash), as_int(b_dhash))
        if (p <= threshold and d <= threshold + 6) or (p <= threshold + 2 and d <= threshold + 4):
            return True
    return False


def is_similar(a: ImageHashes, b: ImageHashes, threshold: int, margin: int) -> bool:
    """Looser than a duplicate: same scene (burst shots). Such images share a split."""
    return is_near_duplicate(a, b, threshold + margin)
