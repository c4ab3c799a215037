"""Rebuild demo/photos from the TensorFlow flower_photos subset in ../shared/data/flowers.

Deterministic: the first PER_CLASS files of each class by name, plus the known exact duplicates,
downsized to LONGEST px on the longest side, JPEG quality 85, file names (Flickr ids) kept.
Run: python demo/make_photos.py [SOURCE]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PIL import Image, ImageOps

PER_CLASS = 60
LONGEST = 320
SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "flowers"
DEST = Path(__file__).resolve().parent / "photos"
KNOWN_DUPLICATES = {"sunflowers": ["14889392928_9742aed45b_m.jpg", "15066430311_fb57fa92b0_m.jpg"]}


def main(source: Path = SOURCE) -> int:
    if not source.is_dir():
        print(f"source not found: {source}", file=sys.stderr)
        return 1
    shutil.rmtree(DEST, ignore_errors=True)
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))[:PER_CLASS]
        files += [folder / name for name in KNOWN_DUPLICATES.get(folder.name, []) if folder / name not in files]
        (DEST / folder.name).mkdir(parents=True)
        for path in files:
            with Image.open(path) as image:
                image = ImageOps.exif_transpose(image).convert("RGB")
                image.thumbnail((LONGEST, LONGEST))
                image.save(DEST / folder.name / path.name, "JPEG", quality=85)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE))
