"""The curated output of a drafted JPEG matches one made from the full decode.

JPEG's DCT scaling rounds a side up when it is not a multiple of the scale, so the last column
or row of a drafted image is partly the encoder's edge padding; the output must be cut from the
picture's own extent (`Decoded.content`), in each EXIF orientation and each resize mode.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageOps

from curation.resize import RESIZE_MODES, ResizeSpec, resize_image
from curation.validate import ValidationLimits, decode
from tests.support.drafted import psnr, waves, write_waves

@pytest.fixture(scope="module")
def oriented(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """1181x779 JPEGs (neither side a multiple of 4) with each EXIF orientation."""
    folder = tmp_path_factory.mktemp("oriented")
    files = {}
    for orientation in range(1, 9):
        files[orientation] = write_waves(folder / f"o{orientation}.jpg", orientation=orientation)
    return files


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_drafted_output_matches_the_full_decode(oriented: dict[int, Path], orientation: int, mode: str) -> None:
    spec = ResizeSpec(128, mode)
    with Image.open(oriented[orientation]) as image:
        reference = resize_image(ImageOps.exif_transpose(image.convert("RGB")), spec)
    drafted = decode(oriented[orientation], ValidationLimits(), draft=spec.size)
    assert drafted.image.size in ((296, 195), (195, 296))  # decoded at 1/4, sides rounded up
    assert drafted.content is not None
    out = resize_image(drafted.image, spec, drafted.content)
    whole = resize_image(drafted.image, spec)  # the padded edge taken for picture
    assert out.size == reference.size
    assert psnr(out, reference) > 48
    assert psnr(out, reference) > psnr(whole, reference) + 10


def test_no_content_box_when_nothing_is_padded(tmp_path: Path) -> None:
    exact, small = tmp_path / "exact.jpg", tmp_path / "small.jpg"
    waves(1024, 768).save(exact, quality=95)
    waves(200, 150).save(small, quality=95)
    assert decode(exact, ValidationLimits(), draft=128).content is None  # 1024/4 x 768/4 exactly
    assert decode(small, ValidationLimits(), draft=128).content is None  # not drafted at all
    assert decode(exact, ValidationLimits()).content is None
