"""Rebuild demo/photos from the TensorFlow flower_photos subset in ../shared/data/flowers.

Deterministic, per class: the first SERVED files by name (plus the known exact duplicates) go to
photos/served/, which the demo's replica search site serves as on-class results; the next
OFFCLASS go to photos/offclass/, the pool its off-class results (other classes' queries) are drawn
from; the last TEST files by name go to photos/test/, a clean test set the replica never serves. Downsized to LONGEST px on the longest
side, JPEG quality QUALITY, file names (Flickr ids) kept.
Run: python demo/make_photos.py [SOURCE]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PIL import Image, ImageOps

SERVED = 120
OFFCLASS = 30
TEST = 25
LONGEST = 200
QUALITY = 80
SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "flowers"
DEST = Path(__file__).resolve().parent / "photos"
KNOWN_DUPLICATES = {"sunflowers": ["14889392928_9742aed45b_m.jpg", "15066430311_fb57fa92b0_m.jpg"]}


def main(source: Path = SOURCE) -> int:
    if not source.is_dir():
        print(f"source not found: {source}", file=sys.stderr)
        return 1
    shutil.rmtree(DEST, ignore_errors=True)
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))
        served = files[:SERVED] + [folder / n for n in KNOWN_DUPLICATES.get(folder.name, []) if folder / n not in files[:SERVED]]
        offclass = [path for path in files[SERVED:SERVED + OFFCLASS] if path not in served]
        for part, chosen in (("served", served), ("offclass", offclass), ("test", files[-TEST:])):
            (DEST / part / folder.name).mkdir(parents=True)
            for path in chosen:
                save_small(path, DEST / part / folder.name / path.name)
    return 0


def save_small(path: Path, dest: Path) -> None:
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((LONGEST, LONGEST))
        image.save(dest, "JPEG", quality=QUALITY)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE))
