"""tf.data pipelines over the curated folders, with one fixed class order for every split."""

from __future__ import annotations

from pathlib import Path

from training.errors import TrainingError
from training.tf_setup import quiet_tensorflow

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")


def count_images(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def split_dataset(curated: Path, split: str, class_names: list[str], image_size: int, batch_size: int,
                  grayscale: bool = False, shuffle: bool = False, seed: int = 1337, cache: bool = True):
    """`curated/<split>/<class>/*` as batches of (float32 0-255 images, int labels)."""
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    folder = curated / split
    if count_images(folder) == 0:
        raise TrainingError(f"{folder} has no images: run `python cli.py curate` first "
                            f"(and check the split ratios give {split} a share)")
    for name in class_names:
        (folder / name).mkdir(parents=True, exist_ok=True)  # Keras wants every class folder
    dataset = keras.utils.image_dataset_from_directory(
        folder, labels="inferred", label_mode="int", class_names=class_names,
        color_mode="grayscale" if grayscale else "rgb", batch_size=batch_size,
        image_size=(image_size, image_size), shuffle=shuffle, seed=seed, verbose=False)
    paths = list(dataset.file_paths)
    if cache:
        dataset = dataset.cache()
    return dataset.prefetch(tf.data.AUTOTUNE), paths
