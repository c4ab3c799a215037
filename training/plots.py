"""Figures written next to a run: learning curves, confusion matrix, most confidently wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: dict[str, list[float]], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(history.get(metric, []), label=f"train {metric}")
        ax.plot(history.get(f"val_{metric}", []), label=f"val {metric}")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(matrix: np.ndarray, class_names: list[str], path: Path) -> None:
    plt = _pyplot()
    size = max(4, 0.6 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = matrix.max() or 1
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_wrong(items: list[tuple[str, str, str, float]], path: Path, columns: int = 4) -> None:
    """Grid of (image path, true, predicted, confidence); an empty grid says so."""
    from PIL import Image

    plt = _pyplot()
    rows = max(1, (len(items) + columns - 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if not items:
        axes[0][0].text(0, 0.5, "no mistakes on the test split", fontsize=12)
    for ax, (image_path, true, predicted, confidence) in zip(axes.ravel(), items):
        with Image.open(image_path) as image:
            ax.imshow(image.convert("RGB"))
        ax.set_title(f"true {true}\npredicted {predicted} ({confidence:.0%})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
