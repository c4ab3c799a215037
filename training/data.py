"""Training data from the catalog: which images are in each split, with one fixed class order,
fed through the one input path of `training.preprocess`.

The catalog, not the folders, says what the dataset is: an accepted image with a split is in it.
Its stored original is read (the curated copy is the export for other tools), so a file given to
`predict` goes through exactly the same steps as a training image.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.errors import TrainingError
from training.preprocess import InputSpec, load_batch
from workspace.layout import Workspace


@dataclass(frozen=True)
class LabelledImage:
    id: str
    sha256: str
    path: Path
    label: int
    split: str


def split_images(ws: Workspace, class_names: list[str], split: str) -> list[LabelledImage]:
    """Accepted images of `split` whose class is one of `class_names`, in a stable order."""
    index = {name: i for i, name in enumerate(class_names)}
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT id, sha256, path, class FROM images WHERE status = 'accepted' AND split = ?"
                           " AND path IS NOT NULL ORDER BY class, id", (split,))
    return [LabelledImage(r["id"], r["sha256"], ws.root / r["path"], index[r["class"]], split)
            for r in rows if r["class"] in index]


def require_split(images: list[LabelledImage], split: str, class_names: list[str]) -> None:
    """Stop with one line when a split is empty."""
    if not images:
        raise TrainingError(f"the {split} split has no images: run `python cli.py curate` first "
                            f"(and check the split ratios give {split} a share)")


def require_trainable(train: list[LabelledImage], val: list[LabelledImage], class_names: list[str]) -> None:
    """At least 2 classes, each with a train and a val image: otherwise the accuracy means nothing."""
    if len(class_names) < 2:
        raise TrainingError(f"training needs at least 2 classes; harvest.json has {len(class_names)}: "
                            f"{', '.join(class_names)} (add a class with `import --add-classes` or in harvest.json)")
    train_counts, val_counts = class_counts(train, class_names), class_counts(val, class_names)
    short = [f"{name} (train {train_counts[name]}, val {val_counts[name]})" for name in class_names
             if not train_counts[name] or not val_counts[name]]
    if short:
        raise TrainingError("training needs at least one train and one val image in every class; short: "
                            + ", ".join(short) + " (add images, then curate)")


def write_run_images(run_dir: Path, images: list[LabelledImage]) -> None:
    """images.csv in a run folder: the images it trained and validated on, so scoring it later on
    another dataset version can name the test images it has seen."""
    with open(run_dir / "images.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "split"])
        writer.writerows((image.id, image.split) for image in images)


def run_images(run_dir: Path) -> dict[str, str] | None:
    """id -> split of the images a run trained and validated on (None for runs that predate images.csv)."""
    path = run_dir / "images.csv"
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["id"]: row["split"] for row in csv.DictReader(handle) if row.get("id")}


def class_counts(images: list[LabelledImage], class_names: list[str]) -> dict[str, int]:
    counts = Counter(i.label for i in images)
    return {name: counts.get(k, 0) for k, name in enumerate(class_names)}


def load_pixels(images: list[LabelledImage], spec: InputSpec) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(arrays uint8, labels, errors): unreadable files are left out with their message."""
    arrays, rows, errors = load_batch([i.path for i in images], spec)
    labels = np.array([images[r].label for r in rows], dtype=np.int32)
    return arrays, labels, [f"{images[r].path.name}: {m}" for r, m in errors.items()]


def pixel_dataset(arrays: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool = False,
                  seed: int = 1337):
    """A tf.data pipeline over in-memory uint8 arrays (cast to float32 0-255 per batch)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((arrays, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    return dataset.prefetch(tf.data.AUTOTUNE)
