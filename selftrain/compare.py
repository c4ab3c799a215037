"""Is self-training's gain over the raw crawl real? Both models are scored on the same test
images, so the honest comparison is paired: only the images one model gets right and the other
gets wrong carry information, and McNemar's exact test says whether their imbalance is more than
chance. A 125-image test set cannot tell a few points apart; the demo says so instead of
printing a noisy difference as a result."""

from __future__ import annotations

import math
from dataclasses import dataclass

from workspace.layout import Workspace

SIGNIFICANT = 0.05


@dataclass(frozen=True)
class PairedComparison:
    images: int          # test images both models could score
    accuracy_a: float
    accuracy_b: float
    only_a: int          # right under model a only
    only_b: int          # right under model b only
    p_value: float       # McNemar's exact test, two-sided

    @property
    def gain(self) -> float:
        return self.accuracy_a - self.accuracy_b

    @property
    def significant(self) -> bool:
        return self.p_value < SIGNIFICANT


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: the discordant images as fair coin flips."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def correct_on_test(ws: Workspace, run_id: str) -> dict[str, bool]:
    """Per test image id, whether the run's top class is its label (unreadable images left out)."""
    from training.data import split_images
    from training.predict import load_bundle
    from training.scoring import score_images

    bundle = load_bundle(ws.models_dir / run_id)
    images = split_images(ws, bundle.class_names, "test")
    probabilities, errors = score_images(ws, bundle, [(i.sha256, i.path) for i in images])
    return {image.id: bool(probabilities[row].argmax() == image.label)
            for row, image in enumerate(images) if row not in errors}


def paired_comparison(ws: Workspace, run_a: str, run_b: str) -> PairedComparison:
    a, b = correct_on_test(ws, run_a), correct_on_test(ws, run_b)
    shared = sorted(a.keys() & b.keys())
    only_a = sum(a[i] and not b[i] for i in shared)
    only_b = sum(b[i] and not a[i] for i in shared)
    n = max(1, len(shared))
    return PairedComparison(len(shared), sum(a[i] for i in shared) / n, sum(b[i] for i in shared) / n,
                            only_a, only_b, mcnemar_p(only_a, only_b))
