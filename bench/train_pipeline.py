"""Training input pipeline: small-cnn fed by Harvest's tf.data pipeline over curated folders vs
the same model fed from tensors already in memory (goal ≥ 95 %), plus training and inference
images/s for small-cnn at 128 px. Run: python -m bench.train_pipeline [--quick]"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FLOWERS, RESULTS_DIR, machine_info  # noqa: E402

SIZE = 128


def curated_copy(root: Path, per_class: int) -> list[str]:
    """A curated-layout train split of real photos, centre-cropped to SIZE (as `curate` writes)."""
    from PIL import Image, ImageOps

    classes = sorted(p.name for p in FLOWERS.iterdir() if p.is_dir())
    for name in classes:
        folder = root / "curated" / "train" / name
        folder.mkdir(parents=True)
        for path in sorted((FLOWERS / name).glob("*.jpg"))[:per_class]:
            with Image.open(path) as image:
                ImageOps.fit(image.convert("RGB"), (SIZE, SIZE)).save(folder / path.name, quality=90)
    return classes


def timed_fit(model, data, epochs: int) -> float:
    """Seconds for the last epoch (the first one fills caches and traces the graph)."""
    import keras

    times: list[float] = []
    stamp = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, l: times.append(time.perf_counter()),
                                           on_epoch_end=lambda e, l: times.append(time.perf_counter()))
    model.fit(data, epochs=epochs, verbose=0, callbacks=[stamp])
    return times[-1] - times[-2]


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    from training.tf_setup import quiet_tensorflow

    quiet_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    from training.data import split_dataset
    from training.models import ModelSpec, build_model

    per_class = 60 if quick else 200
    root = Path(tempfile.mkdtemp(prefix="harvest-bench-train-"))
    try:
        classes = curated_copy(root, per_class)
        pipeline, paths = split_dataset(root / "curated", "train", classes, SIZE, 32, shuffle=True)
        images = np.concatenate([x.numpy() for x, _ in pipeline])
        labels = np.concatenate([y.numpy() for _, y in pipeline])
        memory = tf.data.Dataset.from_tensor_slices((images, labels)).batch(32).prefetch(tf.data.AUTOTUNE)
        spec = ModelSpec("small-cnn", len(classes), SIZE, 3)
        results = {"memory": 0.0, "pipeline": 0.0}
        for name, data in (("memory", memory), ("pipeline", pipeline)) * 2:  # alternate, keep the best
            keras.utils.set_random_seed(1)
            model = build_model(spec)
            model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
            seconds = timed_fit(model, data, epochs=2)
            results[name] = max(results[name], len(images) / seconds)
        start = time.perf_counter()
        model.predict(images, batch_size=64, verbose=0)
        inference = len(images) / (time.perf_counter() - start)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    share = results["pipeline"] / results["memory"]
    data = {"benchmark": "train_pipeline", "machine": machine_info(), "images": int(len(images)),
            "image_size": SIZE, "train_images_per_s_memory": round(results["memory"], 1),
            "train_images_per_s_pipeline": round(results["pipeline"], 1), "pipeline_share": round(share, 3),
            "inference_images_per_s": round(inference, 1), "goal": "pipeline >= 95 % of in-memory"}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "train_pipeline.json").write_text(json.dumps(data, indent=2) + "\n")
    print(f"small-cnn at {SIZE} px, {len(images)} images, 2 cores")
    print(f"{'fed by':<24}{'train images/s':>16}")
    print(f"{'tensors in memory':<24}{results['memory']:>16.1f}")
    print(f"{'Harvest tf.data':<24}{results['pipeline']:>16.1f}")
    print(f"inference images/s: {inference:.1f}")
    print(f"ratio pipeline / memory: {share:.1%} (goal >= 95 %)")
    return data


if __name__ == "__main__":
    main()
