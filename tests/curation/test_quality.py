"""Statistics rewritten for speed give exactly what they gave before: the blur Laplacian (was
Pillow's Kernel filter) and the crop check's 2x2 pooling (was a numpy mean)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from curation.quality import laplacian


def pillow_laplacian(grey: Image.Image) -> np.ndarray:
    kernel = ImageFilter.Kernel((3, 3), (0, 1, 0, 1, -4, 1, 0, 1, 0), scale=1, offset=128)
    return np.asarray(grey.filter(kernel), dtype=np.float32)[1:-1, 1:-1] - 128


@pytest.mark.parametrize("size", [(3, 3), (5, 40), (256, 192), (97, 61), (1, 1), (2, 5), (5, 2), (1, 3), (4, 3)])
def test_laplacian_is_pillows_kernel_filter(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    for pixels in (rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8),   # noise clips at both ends
                   np.tile(np.linspace(0, 255, size[0], dtype=np.uint8), (size[1], 1))):
        image = Image.fromarray(pixels, "L")
        np.testing.assert_array_equal(laplacian(image), pillow_laplacian(image))


def test_pooled_crop_views_are_the_2x2_means_numpy_gave() -> None:
    """The confirming crop check's 2x2 pooling gives the float32 values of the numpy mean it
    replaced, on resampled (non-integer) crop views and on plain thumbnails."""
    from curation.confirm import _pooled, crop_views, thumb_array

    rng = np.random.default_rng(5)
    for _ in range(10):
        thumb = thumb_array(rng.integers(0, 256, 1024, dtype=np.uint8).tobytes())
        for pixels in (crop_views(thumb), thumb):
            reference = pixels.reshape(*pixels.shape[:-2], 16, 2, 16, 2).mean(axis=(-1, -3))
            pooled = _pooled(pixels)
            assert pooled.dtype == reference.dtype
            np.testing.assert_array_equal(pooled, reference)
