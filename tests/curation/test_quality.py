"""The quality statistics computed in numpy are the ones Pillow's filters gave."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from curation.quality import laplacian


def pillow_laplacian(grey: Image.Image) -> np.ndarray:
    kernel = ImageFilter.Kernel((3, 3), (0, 1, 0, 1, -4, 1, 0, 1, 0), scale=1, offset=128)
    return np.asarray(grey.filter(kernel), dtype=np.float32)[1:-1, 1:-1] - 128


@pytest.mark.parametrize("size", [(3, 3), (5, 40), (256, 192), (97, 61)])
def test_laplacian_is_pillows_kernel_filter(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    for pixels in (rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8),   # noise clips at both ends
                   np.tile(np.linspace(0, 255, size[0], dtype=np.uint8), (size[1], 1))):
        image = Image.fromarray(pixels, "L")
        np.testing.assert_array_equal(laplacian(image), pillow_laplacian(image))
