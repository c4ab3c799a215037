"""Statistics rewritten for speed give exactly what they gave before: the blur Laplacian (was
Pillow's Kernel filter), the colour statistic (was a per-channel numpy mean) and the crop check's
2x2 pooling (was a numpy mean)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from curation.quality import CHROMA_SAMPLE, chroma, laplacian


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


def numpy_chroma(image: Image.Image) -> float:
    """The colour statistic as stop 25 computed it: per-channel int16 views, numpy means."""
    if max(image.size) > CHROMA_SAMPLE:
        scale = CHROMA_SAMPLE / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.NEAREST)
    rgb = np.asarray(image, dtype=np.int16)
    return float(np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean())


@pytest.mark.parametrize("size", [(1, 1), (1, 5), (300, 2), (129, 128), (500, 400), (64, 64)])
def test_chroma_is_the_numpy_mean_it_replaced(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    for pixels in (rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8),
                   np.repeat(rng.integers(0, 256, (size[1], size[0], 1), dtype=np.uint8), 3, axis=2)):  # grey
        image = Image.fromarray(pixels, "RGB")
        assert chroma(image) == numpy_chroma(image)


def test_pooled_crop_views_are_the_2x2_means_numpy_gave() -> None:
    """The confirming crop check's 2x2 pooling gives the float32 values of the numpy mean it
    replaced, on resampled (non-integer) crop views and on plain thumbnails."""
    from curation.confirm import _pooled, crop_views, thumb_array

    rng = np.random.default_rng(5)
    for _ in range(10):
        thumb = thumb_array(rng.integers(0, 256, 1024, dtype=np.uint8).tobytes())
        for pixels in (crop_views(thumb[None])[0], thumb):
            reference = pixels.reshape(*pixels.shape[:-2], 16, 2, 16, 2).mean(axis=(-1, -3))
            pooled = _pooled(pixels)
            assert pooled.dtype == reference.dtype
            np.testing.assert_array_equal(pooled, reference)
