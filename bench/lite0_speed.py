"""`python -m bench.lite0_speed`: EfficientNet-Lite0 feature extraction (model.predict on a batch of
64 real photos) at 224 and 160 px, against keras' EfficientNetB0 backbone (random weights: speed
does not depend on them) in the same run. Also counts how many of the first 20 daisies the
ImageNet head calls class 985. Result: bench/results/lite0_speed.json."""
from __future__ import annotations

import time

import numpy as np
from PIL import Image, ImageOps

from bench import common

SIZES = (224, 160)
BATCH = 64
REPEATS = 3
DAISY = 985


def photos(count: int, size: int, pattern: str = "*/*.jpg") -> np.ndarray:
    files = sorted(common.FLOWERS.glob(pattern))[:count]
    return np.stack([np.asarray(ImageOps.fit(Image.open(f).convert("RGB"), (size, size), Image.BICUBIC),
                                np.float32) for f in files])


def images_per_s(model, pixels: np.ndarray) -> float:
    """Best of REPEATS timed predicts after one warm-up (tracing) call."""
    model.predict(pixels[:8], batch_size=BATCH, verbose=0)
    best = 0.0
    for _ in range(REPEATS):
        started = time.perf_counter()
        model.predict(pixels, batch_size=BATCH, verbose=0)
        best = max(best, len(pixels) / (time.perf_counter() - started))
    return best


def main() -> dict:
    import keras

    from training.efficientnet_lite import build_lite0_backbone, imagenet_head

    rows = {}
    for size in SIZES:
        pixels = photos(BATCH, size)
        baseline = keras.Sequential([
            keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(size, size, 3)),
            keras.layers.GlobalAveragePooling2D()])
        lite = images_per_s(build_lite0_backbone(size), pixels)
        b0 = images_per_s(baseline, pixels)
        rows[size] = {"lite0_images_per_s": lite, "efficientnetb0_images_per_s": b0, "ratio_vs_b0": lite / b0}
        print(f"{size}px, batch {BATCH}: lite0 {lite:.1f} img/s, keras EfficientNetB0 {b0:.1f} img/s, "
              f"ratio {lite / b0:.2f}")
    weights, bias = imagenet_head()
    features = build_lite0_backbone(224).predict(photos(20, 224, "daisy/*.jpg"), verbose=0)
    daisies = int(((features @ weights + bias).argmax(axis=1) == DAISY).sum())
    print(f"ImageNet head: {daisies} of the first 20 daisy photos → class {DAISY} (daisy)")
    result = {"feature_extraction": rows, "daisy_985_of_20": daisies}
    common.write_result("lite0_speed", result)
    return result


if __name__ == "__main__":
    main()
