"""Issue 21: is a cheaper resize worth its quality? The curated output (256 px center crop, JPEG
quality 90) made by Harvest's path (JPEG draft decode, Pillow BICUBIC), by the same draft with
Pillow's cheaper filters, and by img2dataset's own Resizer (full OpenCV decode, INTER_AREA, in its
venv), each against a reference of the same geometry: a full decode resized with LANCZOS.

Prints milliseconds per image (decode + resize + encode, one process) and PSNR against the
reference before and after the JPEG encode. No goal: this is the evidence for keeping BICUBIC
(or not). Both sets come from ../shared (the bench photos are made from it).
"""
from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from bench import common, peers
from bench.ingest import build_photos
from curation.resize import ResizeSpec, decode_side, resize_image
from curation.validate import Decoded, ValidationLimits, decode

NAME = "resize_quality"
SPEC = ResizeSpec(256)
FILTERS = {"BILINEAR": Image.Resampling.BILINEAR, "HAMMING": Image.Resampling.HAMMING,
           "BOX": Image.Resampling.BOX}


def psnr(outputs: list[np.ndarray], references: list[np.ndarray]) -> float:
    """Peak signal-to-noise ratio (dB) of the mean squared error over all images."""
    mse = np.mean([np.mean((out.astype(np.float64) - ref) ** 2) for out, ref in zip(outputs, references)])
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def decoded(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert("RGB"))


def harvest_like(files: list[Path], fit: Callable[[Decoded], Image.Image], draft: int | None) -> dict:
    """Harvest's decode (draft to `draft` px, or none), `fit`, and the JPEG encode, timed per image."""
    limits = ValidationLimits()
    outputs, jpegs = [], []
    start = time.perf_counter()
    for path in files:
        outputs.append(fit(decode(path, limits, draft=draft)))
        buffer = io.BytesIO()
        outputs[-1].save(buffer, "JPEG", quality=SPEC.quality)
        jpegs.append(buffer.getvalue())
    seconds = time.perf_counter() - start
    return {"ms": 1000 * seconds / len(files), "pixels": [np.asarray(o) for o in outputs],
            "encoded": [decoded(jpeg) for jpeg in jpegs]}


def fit_reference(path: Path) -> np.ndarray:
    """Harvest's geometry (ImageOps.fit's fractional center box) from a full decode, LANCZOS."""
    with Image.open(path) as image:
        full = image.convert("RGB")
    return np.asarray(ImageOps.fit(full, (SPEC.size, SPEC.size), Image.Resampling.LANCZOS), np.float64)


def crop_reference(path: Path, scaled: tuple[int, int]) -> np.ndarray:
    """img2dataset's geometry (short side scaled to the size, whole-pixel center crop), LANCZOS."""
    with Image.open(path) as image:
        full = image.convert("RGB").resize(scaled, Image.Resampling.LANCZOS)
    left, top = (scaled[0] - SPEC.size) // 2, (scaled[1] - SPEC.size) // 2
    return np.asarray(full.crop((left, top, left + SPEC.size, top + SPEC.size)), np.float64)


def peer_rows(files: list[Path], timeout: float) -> list[list[object]]:
    with tempfile.TemporaryDirectory(prefix="bench-resize-") as tmp:
        out = Path(tmp) / "peer.npz"
        result = peers.run_peer("img2dataset", "img2dataset_resize.py",
                                [str(out), str(SPEC.size), str(SPEC.quality), *map(str, files)], timeout)
        if result["status"] != "ok":
            return [["img2dataset Resizer (full decode, INTER_AREA)", "-", "-", "-",
                     f"{result['status']}: {result.get('detail', '')}"]]
        with np.load(out) as saved:
            pixels, before = list(saved["pixels"]), list(saved["before_encode"])
            scaled = [tuple(size) for size in saved["scaled"]]
    references = [crop_reference(path, size) for path, size in zip(files, scaled)]
    return [["img2dataset Resizer (full decode, INTER_AREA)", f"{1000 * result['seconds'] / len(files):.2f}", f"{psnr(before, references):.2f}",
             f"{psnr(pixels, references):.2f}", "its own venv; its own geometry"]]


def measure(files: list[Path], timeout: float, with_peer: bool) -> list[list[object]]:
    references = [fit_reference(path) for path in files]
    candidates: dict[str, Callable[[Decoded], Image.Image]] = {
        "harvest: draft + BICUBIC": lambda d: resize_image(d.image, SPEC, d.content),
        "draft + BICUBIC, padded edge kept (stop 26)": lambda d: resize_image(d.image, SPEC),
        "draft to 2x the output + BICUBIC": lambda d: resize_image(d.image, SPEC, d.content),
        "full decode + BICUBIC": lambda d: resize_image(d.image, SPEC),
    }
    for name, method in FILTERS.items():  # Harvest's crop box, a cheaper filter
        candidates[f"draft + {name}"] = (lambda method: lambda d: resize_image(d.image, SPEC, d.content, method))(method)
    rows: list[list[object]] = []
    for name, fit in candidates.items():
        draft = None if name.startswith("full") else 2 * decode_side(SPEC) if "2x" in name else decode_side(SPEC)
        made = harvest_like(files, fit, draft)
        rows.append([name, f"{made['ms']:.2f}", f"{psnr(made['pixels'], references):.2f}",
                     f"{psnr(made['encoded'], references):.2f}", ""])
    return rows + (peer_rows(files, timeout) if with_peer else [])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.resize_quality", description=__doc__)
    parser.add_argument("--images", type=int, default=300, help="photos per set")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peer-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    sets = {"bench photos (500-1600 px)": sorted(build_photos(2000).glob("*.jpg"))[:args.images],
            "shared flowers (~320x240 px)": common.flower_photos(args.images)}
    payload = {}
    for title, files in sets.items():
        rows = measure(files, args.peer_timeout, not args.no_peers)
        common.print_table(f"Resize to {SPEC.size} px center crop, JPEG q{SPEC.quality}: {title}, {len(files)} images",
                           ["method", "ms/image", "PSNR dB (pixels)", "PSNR dB (after JPEG)", "note"], rows)
        payload[title] = rows
    common.write_result(NAME, {"sets": payload}, ("img2dataset",))
    return payload


if __name__ == "__main__":
    main()
