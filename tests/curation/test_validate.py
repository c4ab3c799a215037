"""Normalisation to upright RGB, rejection reasons, quality flags and resize modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curation.errors import Rejected
from curation.quality import QualityThresholds, quality_flags
from curation.resize import ResizeSpec, resize_image
from curation.validate import ValidationLimits, open_normalized

LIMITS = ValidationLimits(min_side=8)


def gradient(size=(60, 40)) -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    arr = np.stack([np.tile(x, (size[1], 1)), np.full((size[1], size[0]), 90, np.uint8),
                    np.tile(x[::-1], (size[1], 1))], axis=-1)
    return Image.fromarray(arr, "RGB")


def test_modes_become_rgb(tmp_path: Path) -> None:
    cmyk = tmp_path / "cmyk.jpg"
    gradient().convert("CMYK").save(cmyk)
    rgba = tmp_path / "alpha.png"
    transparent = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    transparent.save(rgba)
    palette = tmp_path / "palette.png"
    gradient().convert("P").save(palette, transparency=0)
    sixteen = tmp_path / "16bit.png"
    Image.fromarray((np.arange(40 * 40).reshape(40, 40) * 40).astype(np.uint16)).save(sixteen)
    gif = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (30, 30), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    for path in (cmyk, rgba, palette, sixteen, gif):
        image = open_normalized(path, LIMITS)
        assert image.mode == "RGB", path.name
    assert open_normalized(rgba, LIMITS).getpixel((5, 5)) == (255, 255, 255)  # alpha on white
    assert open_normalized(gif, LIMITS).getpixel((5, 5)) == (255, 0, 0)      # first frame
    assert max(open_normalized(sixteen, LIMITS).getextrema()[0]) > 200       # scaled, not clipped to black


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    gradient((60, 40)).save(path, exif=exif)
    assert open_normalized(path, LIMITS).size == (40, 60)


@pytest.mark.parametrize("size, reason", [((4, 4), "too_small"), ((400, 10), "odd_aspect")])
def test_size_limits_reject(tmp_path: Path, size, reason) -> None:
    path = tmp_path / "x.png"
    Image.new("RGB", size, (1, 2, 3)).save(path)
    with pytest.raises(Rejected) as info:
        open_normalized(path, ValidationLimits(min_side=8, max_aspect=6))
    assert info.value.reason == reason


def test_decompression_bomb_rejected_without_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(path)
    with pytest.raises(Rejected) as info:
        open_normalized(path, ValidationLimits(max_pixels=50_000_000))
    assert info.value.reason == "decompression_bomb"


def test_quality_flags() -> None:
    t = QualityThresholds()
    assert "too_dark" in quality_flags(Image.new("RGB", (200, 200), (5, 5, 5)), (200, 200), t)
    assert "too_light" in quality_flags(Image.new("RGB", (200, 200), (250, 250, 250)), (200, 200), t)
    flat = quality_flags(Image.new("RGB", (200, 200), (120, 60, 30)), (200, 200), t)
    assert "low_information" in flat and "blurry" in flat
    gray = gradient((200, 150)).convert("L").convert("RGB")
    assert "grayscale" in quality_flags(gray, (200, 150), t)
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    assert quality_flags(noisy, (200, 200), t) == []
    assert "too_small" in quality_flags(noisy, (50, 50), t)


@pytest.mark.parametrize("mode, expected", [("center-crop", (32, 32)), ("pad", (32, 32)),
                                            ("stretch", (32, 32)), ("keep-ratio", (32, 21))])
def test_resize_modes(mode: str, expected) -> None:
    out = resize_image(gradient((60, 40)), ResizeSpec(32, mode))
    assert out.size == expected
    if mode == "pad":
        assert out.getpixel((16, 1)) == (0, 0, 0)  # letterbox bars
