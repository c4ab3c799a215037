"""The matrix-product resizes and crop hashes are Pillow's, bit for bit (not within a tolerance):
crop hashes stored by earlier versions, made by 18 Pillow resizes, stay comparable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.fft
from PIL import Image

from curation.hashing import BOX_POSITIONS, BOX_SCALES, BOX_SOURCE, _hex, crop_hashes
from curation.resample import lanczos_weights, resize_grid, resize_grids, resize_whole, vertical_first
from curation.validate import ValidationLimits
from curation.workers import open_for_analysis

FLOWERS = Path(__file__).resolve().parents[3] / "shared" / "data" / "flowers"
SIZES = [(1, 1), (9, 8), (33, 32), (97, 61), (255, 17), (17, 255), (256, 191), (101, 256), (40, 300),
         (300, 40), (96, 96), (97, 97), (3, 200), (64, 200)]


def pillow_crop_hashes(image: Image.Image) -> str:
    """The reference: one Pillow LANCZOS resize per box, as crop hashes were made before."""
    grey = image.convert("L")
    if max(grey.size) > BOX_SOURCE:
        grey = grey.resize((min(grey.width, BOX_SOURCE), min(grey.height, BOX_SOURCE)), Image.Resampling.BOX)
    width, height = grey.size
    pixels = []
    for scale in BOX_SCALES:
        box_w, box_h = width * scale, height * scale
        for fy in BOX_POSITIONS:
            for fx in BOX_POSITIONS:
                left, top = (width - box_w) * fx, (height - box_h) * fy
                box = (left, top, left + box_w, top + box_h)
                pixels.append(np.asarray(grey.resize((32, 32), Image.Resampling.LANCZOS, box=box), dtype=np.float64))
    dct = scipy.fft.dct(scipy.fft.dct(np.stack(pixels), axis=1), axis=2)[:, :8, :8].reshape(len(pixels), 64)
    return "".join(_hex(dct > np.median(dct, axis=1, keepdims=True)))


def noise(size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8), "L")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("out", [(32, 32), (9, 8), (32, 8), (5, 40)])
def test_whole_image_resize_is_pillows(size: tuple[int, int], out: tuple[int, int]) -> None:
    image = noise(size)
    width, height = size
    mine = resize_grid(np.asarray(image, dtype=np.float64), lanczos_weights(height, 0.0, height, out[1])[None],
                       lanczos_weights(width, 0.0, width, out[0])[None])[0, 0]
    np.testing.assert_array_equal(mine, np.asarray(image.resize(out, Image.Resampling.LANCZOS)))


@pytest.mark.parametrize("size", SIZES)
def test_resizes_sharing_a_pass_are_pillows(size: tuple[int, int]) -> None:
    """The image hashes' two resizes (32x32 and 9x8), whichever pass Pillow does first."""
    image = noise(size)
    outs = [(32, 32), (9, 8), (5, 40)]
    for out, mine in zip(outs, resize_whole(np.asarray(image, dtype=np.float64), outs)):
        np.testing.assert_array_equal(mine, np.asarray(image.resize(out, Image.Resampling.LANCZOS)))


@pytest.mark.parametrize("size", SIZES)
def test_box_resizes_are_pillows(size: tuple[int, int]) -> None:
    image = noise(size)
    width, height = size
    boxes = [(0.0, 0.0, width * 0.92, height * 0.86), (width * 0.07, height * 0.14, width, height),
             (width / 3, 0.5, width * 0.9, height - 0.25)]
    rows = np.stack([lanczos_weights(height, top, bottom, 32) for _, top, _, bottom in boxes])
    columns = np.stack([lanczos_weights(width, left, right, 32) for left, _, right, _ in boxes])
    grid = resize_grid(np.asarray(image, dtype=np.float64), rows, columns)
    for k, box in enumerate(boxes):
        np.testing.assert_array_equal(grid[k, k], np.asarray(image.resize((32, 32), Image.Resampling.LANCZOS, box=box)))


@pytest.mark.parametrize("size", SIZES)
def test_grids_sharing_a_first_pass_are_pillows(size: tuple[int, int]) -> None:
    """Two grids of boxes (as the crop hashes' two scales) resized together, either pass first."""
    image = noise(size)
    width, height = size
    grids = [[(0.0, 0.0, width * 0.92, height * 0.92), (width * 0.08, height * 0.08, width, height)],
             [(width * 0.07, 0.5, width * 0.93, height * 0.86), (0.0, height * 0.14, width * 0.86, height)]]
    pairs = [(np.stack([lanczos_weights(height, top, bottom, 32) for _, top, _, bottom in boxes]),
              np.stack([lanczos_weights(width, left, right, 32) for left, _, right, _ in boxes])) for boxes in grids]
    for boxes, grid in zip(grids, resize_grids(np.asarray(image, dtype=np.float64), pairs)):
        for k, box in enumerate(boxes):
            np.testing.assert_array_equal(grid[k, k], np.asarray(image.resize((32, 32), Image.Resampling.LANCZOS, box=box)))


def test_both_pass_orders_are_exercised() -> None:
    """Pillow 13 runs the vertical pass first for images that shrink much more in height: the
    sizes above must cover both orders, or a change of order could pass unnoticed."""
    orders = {vertical_first(h, w, 32, 32) for w, h in SIZES}
    assert orders == {True, False}


@pytest.mark.parametrize("size", SIZES + [(500, 375), (120, 700)])
def test_crop_hashes_match_pillow_on_synthetic_images(size: tuple[int, int]) -> None:
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, size[0], dtype=np.uint8), (size[1], 1)), "L")
    for image in (noise(size), gradient, Image.new("L", size, 120)):
        assert crop_hashes(image) == pillow_crop_hashes(image)


@pytest.mark.skipif(not FLOWERS.is_dir(), reason=f"shared photos not found at {FLOWERS}")
def test_crop_hashes_match_pillow_on_shared_photos() -> None:
    photos = sorted(FLOWERS.glob("*/*.jpg"))[::3]
    assert len(photos) >= 300
    mismatched = []
    for path in photos:
        image, _ = open_for_analysis(path, ValidationLimits())
        if crop_hashes(image) != pillow_crop_hashes(image):
            mismatched.append(path.name)
    assert mismatched == []



def test_one_blas_thread_is_set_once_for_nested_uses_and_restored_after() -> None:
    """An image's hashes and crop hashes share one limit: the inner use leaving does not lift it,
    the outer one leaving restores the original count."""
    from threadpoolctl import threadpool_info

    from curation.resample import one_blas_thread

    def blas_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    original = blas_threads()
    with one_blas_thread():
        with one_blas_thread():
            assert all(n == 1 for n in blas_threads())
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == original


def test_row_medians_are_numpys() -> None:
    from curation.hashing import row_medians

    rng = np.random.default_rng(7)
    for low in (rng.normal(size=(18, 64)), rng.integers(-3, 3, (5, 64)).astype(np.float64), np.zeros((2, 64))):
        np.testing.assert_array_equal(row_medians(low), np.median(low, axis=1, keepdims=True))
