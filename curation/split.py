"""Leak-free, stable splits: stratified by class, seeded, by groups of similar images.

- An image that has a split keeps it.
- Images of one group (near duplicates and look-alike burst shots) share a split; a new image
  whose group already sits in the frozen test split is kept out (reason `similar_to_test`).
- Test freezes per class: once a class has test images, its new images go to train/val only
  (unless `resplit`). A class with no test images (a new class, or one split with no test share)
  gets them at its next curate whose ratios give test a share: whole groups of its train/val
  images are moved to test in that share, and its new images are drawn with the full ratios.
- Pseudo-labelled images only ever go to train.
Grouped stratified folds are scikit-learn's StratifiedGroupKFold folds (curation.group_folds).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from curation.group_folds import stratified_group_folds

from workspace.images import SPLITS


@dataclass(frozen=True)
class SplitItem:
    id: str
    class_name: str
    group: str
    split: str | None
    label_source: str


@dataclass(frozen=True)
class SplitPlan:
    assignments: dict[str, str]        # id -> split, for every item that has one
    excluded: dict[str, str]           # id -> reason (kept out of every split)
    new_test_classes: tuple[str, ...] = ()   # classes that had no test images and got some now


def plan_splits(items: Sequence[SplitItem], ratios: tuple[float, float, float], seed: int,
                resplit: bool = False) -> SplitPlan:
    """Splits for all `items`; existing splits are kept unless `resplit` (or a class without test
    images gets its test share, see the module). Groups are placed by their hand-labelled images
    first, so a pseudo-labelled look-alike never decides (or leaks out of) a val or test group,
    whatever the order of `items`."""
    current = {i.id: i.split for i in items if i.split and not resplit}
    tested = {i.class_name for i in items if current.get(i.id) == "test"}
    _give_test_share(items, current, tested, ratios, seed)
    group_split: dict[str, str] = {}
    for item in items:
        if item.id in current:
            group_split.setdefault(item.group, current[item.id])
    assignments = dict(current)
    excluded: dict[str, str] = {}
    waiting = [i for i in items if i.id not in assignments]
    fresh = []
    for item in (i for i in waiting if i.label_source != "pseudo"):
        existing = group_split.get(item.group)
        if existing == "test":
            excluded[item.id] = "similar_to_test"
        elif existing:
            assignments[item.id] = existing
        else:
            fresh.append(item)
    drawn = assign_groups([i for i in fresh if i.class_name in tested], _without_test(ratios), seed)
    drawn.update(assign_groups([i for i in fresh if i.class_name not in tested], ratios, seed))
    assignments.update(drawn)
    for item in fresh:
        group_split.setdefault(item.group, drawn[item.id])
    for item in (i for i in waiting if i.label_source == "pseudo"):
        existing = group_split.setdefault(item.group, "train")
        if existing == "train":
            assignments[item.id] = "train"
        else:
            excluded[item.id] = f"similar_to_{existing}"
    new_test = {i.class_name for i in items if i.class_name not in tested and assignments.get(i.id) == "test"}
    return SplitPlan(assignments, excluded, tuple(sorted(new_test)))


def _give_test_share(items: Sequence[SplitItem], current: dict[str, str], tested: set[str],
                     ratios: tuple[float, float, float], seed: int) -> None:
    """Move whole groups of train/val images of classes without test images into test, in the
    ratios' test share; a group with a member that cannot move (a pseudo-label, a new image, an
    image of a class whose test is frozen) stays where it is. Updates `current`."""
    if ratios[2] <= 0:
        return

    def movable(i: SplitItem) -> bool:
        return i.class_name not in tested and i.id in current and i.label_source != "pseudo"

    fixed_groups = {i.group for i in items if not movable(i)}  # a look-alike elsewhere stays put
    candidates = [i for i in items if movable(i) and i.group not in fixed_groups]
    for item_id, split in assign_groups(candidates, ratios, seed).items():
        if split == "test":
            current[item_id] = "test"


def _without_test(ratios: tuple[float, float, float]) -> tuple[float, float, float]:
    train, val, _ = ratios
    total = train + val
    return (train / total, val / total, 0.0)


def assign_groups(items: Sequence[SplitItem], ratios: tuple[float, float, float], seed: int) -> dict[str, str]:
    """Stratified by class, whole groups to one split, in proportions `ratios`."""
    if not items:
        return {}
    groups = sorted({i.group for i in items})
    nonzero = [r for r in ratios if r > 0]
    folds = min(20, max(2, round(1 / min(nonzero)))) if len(nonzero) > 1 else 1
    largest_class = max(Counter(i.class_name for i in items).values())
    folds = min(folds, len(groups), largest_class)  # scikit-learn needs a class that fills every fold
    if folds < 2:
        return {i.id: "train" for i in items}
    fold_of = stratified_group_folds([i.class_name for i in items], [i.group for i in items], folds, seed)
    bounds = _fold_bounds(ratios, folds)
    return {item.id: bounds[fold_of[k]] for k, item in enumerate(items)}


def _fold_bounds(ratios: tuple[float, float, float], folds: int) -> list[str]:
    """Which split each fold goes to: test folds first, then val, then train."""
    train, val, test = ratios
    n_test = round(test * folds) if test > 0 else 0
    n_val = round(val * folds) if val > 0 else 0
    if test > 0 and n_test == 0:
        n_test = 1
    if val > 0 and n_val == 0:
        n_val = 1
    n_test = min(n_test, folds - 1)
    n_val = min(n_val, max(0, folds - 1 - n_test))
    return ["test"] * n_test + ["val"] * n_val + ["train"] * (folds - n_test - n_val)


def split_counts(assignments: dict[str, str], classes: dict[str, str]) -> dict[str, dict[str, int]]:
    """Per class, images per split (for summaries)."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SPLITS, 0))
    for image_id, split in assignments.items():
        table[classes[image_id]][split] += 1
    return dict(table)
