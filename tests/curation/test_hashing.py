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


def test_the_low_dct_corner_is_scipys_transform_and_keeps_its_exact_zeros() -> None:
    """The products replace scipy.fft's DCT: the same numbers to rounding, and the coefficients
    the FFT gives as exact zeros (flat squares, constant rows or columns) are exact zeros too, so
    no median comparison can tip on rounding noise."""
    from scipy.fft import dct

    from curation.hashing import low_frequencies

    rng = np.random.default_rng(7)
    ramp = np.tile(np.arange(32, dtype=np.float64) * 7, (32, 1))
    squares = np.stack([rng.integers(0, 256, (32, 32)).astype(np.float64), np.full((32, 32), 137.0), ramp, ramp.T,
                        np.zeros((32, 32)), np.full((32, 32), 255.0)])
    expected = dct(dct(squares, axis=1), axis=2)[:, :8, :8].reshape(len(squares), 64)
    got = low_frequencies(squares)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert ((got == 0) == (expected == 0)).all()
    assert (np.sign(got) == np.sign(expected)).all()
