"""Model input from a drafted JPEG: cut from the picture's own extent since SPEC_VERSION 2, and a
run saved with version 1 still fed exactly as it was trained."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageOps

from curation.validate import ValidationLimits, open_normalized
from tests.support.drafted import psnr, write_waves
from training.preprocess import SPEC_VERSION, InputSpec, load_image, load_input


@pytest.mark.parametrize("mode", ["center-crop", "pad"])
def test_input_matches_the_full_decode(tmp_path: Path, mode: str) -> None:
    path = write_waves(tmp_path / "odd.jpg", orientation=6)  # 1181x779 drafted at 1/4 for 2 x 128
    spec = InputSpec(128, mode=mode)
    assert spec.version == SPEC_VERSION == 2
    with Image.open(path) as image:
        full = ImageOps.exif_transpose(image.convert("RGB"))
    reference = ImageOps.fit(full, (128, 128), Image.Resampling.BICUBIC) if mode == "center-crop" else \
        ImageOps.pad(full, (128, 128), Image.Resampling.BICUBIC, color=(0, 0, 0))
    now, before = load_image(path, spec), load_image(path, InputSpec(128, mode=mode, version=1))
    assert psnr(now, reference) > 45
    assert psnr(now, reference) > psnr(before, reference) + 3
    assert load_input(path, InputSpec(128, channels=1, mode=mode)).shape == (128, 128, 1)


def test_a_version_1_run_is_fed_as_it_was_trained(tmp_path: Path) -> None:
    path = write_waves(tmp_path / "odd.jpg")
    drafted = open_normalized(path, ValidationLimits(min_side=1), draft=256)
    old = ImageOps.fit(drafted, (128, 128), Image.Resampling.BILINEAR)  # what version 1 fed, byte for byte
    spec = InputSpec.from_dict({"size": 128, "channels": 3, "mode": "center-crop", "resample": "bilinear"})
    assert spec.version == 1  # a spec saved without a version is from version 1
    assert load_image(path, spec).tobytes() == old.tobytes()
