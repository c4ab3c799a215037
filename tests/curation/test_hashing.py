"""The hashes Harvest computes from one grey array are imagehash's, bit for bit, of the very
copy Harvest hashes: the analysis copy is greyscale (since analysis version 2: converted, then
shrunk), so imagehash's own conversion to grey leaves it as it is and both hash the same pixels."""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageOps

from curation.hashing import ImageHashes, image_hashes
from curation.validate import ValidationLimits
from curation.workers import open_for_analysis

FLOWERS = Path(__file__).resolve().parents[3] / "shared" / "data" / "flowers"


def reference(image: Image.Image) -> ImageHashes:
    mirror = ImageOps.mirror(image)
    return ImageHashes(str(imagehash.phash(image)), str(imagehash.phash(mirror)),
                       str(imagehash.dhash(image)), str(imagehash.dhash(mirror)))


@pytest.mark.skipif(not FLOWERS.is_dir(), reason=f"shared photos not found at {FLOWERS}")
def test_every_shared_photo_hashes_as_imagehash_does() -> None:
    photos = sorted(FLOWERS.glob("*/*.jpg"))
    assert len(photos) >= 1000
    mismatched = []
    for path in photos:
        image, _ = open_for_analysis(path, ValidationLimits())
        assert image.mode == "L"
        if image_hashes(image) != reference(image):
            mismatched.append(path.name)
    assert mismatched == []


@pytest.mark.parametrize("size", [(33, 32), (97, 61), (255, 17), (256, 191), (101, 256), (9, 8), (40, 300)])
def test_odd_sizes_and_flat_images_hash_as_imagehash_does(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(size))
    noise = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, size[0], dtype=np.uint8), (size[1], 1)), "L").convert("RGB")
    for image in (noise, gradient, Image.new("RGB", size, (200, 10, 90))):
        assert image_hashes(image) == reference(image)
