"""`plan_splits`, the decision behind every split: pseudo-labels only in train, a frozen test split,
`--resplit`, groups never straddling splits, look-alikes of test images kept out."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from curation.split import (SplitItem, SplitPlan, _fold_bounds, _without_test, assign_groups, plan_splits,
                            split_counts)

RATIOS = (0.6, 0.2, 0.2)


def manual(n: int, classes: tuple[str, ...] = ("a", "b", "c"), prefix: str = "m", group_size: int = 1,
           split: str | None = None) -> list[SplitItem]:
    """n images per class, in groups of `group_size` look-alikes."""
    return [SplitItem(f"{prefix}-{c}-{i}", c, f"{prefix}-{c}-g{i // group_size}", split, "manual")
            for c in classes for i in range(n)]


def pseudo(n: int, classes: tuple[str, ...] = ("a", "b", "c"), prefix: str = "p") -> list[SplitItem]:
    return [SplitItem(f"{prefix}-{c}-{i}", c, f"{prefix}-{c}-g{i}", None, "pseudo") for c in classes for i in range(n)]


def with_splits(items: list[SplitItem], plan: SplitPlan) -> list[SplitItem]:
    """The items as the catalog holds them after `plan` was applied."""
    return [SplitItem(i.id, i.class_name, i.group, plan.assignments.get(i.id), i.label_source) for i in items]


def assert_groups_whole(items: list[SplitItem], plan: SplitPlan) -> None:
    splits_of_group: dict[str, set[str]] = {}
    for item in items:
        if item.id in plan.assignments:
            splits_of_group.setdefault(item.group, set()).add(plan.assignments[item.id])
    assert all(len(s) == 1 for s in splits_of_group.values()), splits_of_group


def test_every_item_gets_one_split_stratified_by_class_and_seeded() -> None:
    items = manual(20)
    plan = plan_splits(items, RATIOS, seed=7)
    assert set(plan.assignments) == {i.id for i in items} and not plan.excluded
    counts = split_counts(plan.assignments, {i.id: i.class_name for i in items})
    for per_class in counts.values():
        assert per_class == {"train": 12, "val": 4, "test": 4}
    assert plan_splits(items, RATIOS, seed=7) == plan
    assert plan_splits(items, RATIOS, seed=8).assignments != plan.assignments


@pytest.mark.parametrize("seed", range(6))
def test_groups_never_straddle_splits_and_pseudo_labels_only_go_to_train(seed: int) -> None:
    rng = random.Random(seed)
    items = manual(30, group_size=3) + pseudo(15)
    # pseudo-labelled look-alikes of manual images, listed before and after them
    look_alikes = [SplitItem(f"q-{k}", "a", f"m-a-g{k}", None, "pseudo") for k in range(10)]
    items = look_alikes[:5] + items + look_alikes[5:]
    rng.shuffle(items)
    plan = plan_splits(items, RATIOS, seed=seed)
    assert_groups_whole(items, plan)
    for item in items:
        if item.label_source == "pseudo":
            assert plan.assignments.get(item.id, "train") == "train", item
            assert item.id in plan.assignments or plan.excluded[item.id] in ("similar_to_val", "similar_to_test")
    assert set(plan.assignments) | set(plan.excluded) == {i.id for i in items}
    assert {plan.assignments[i.id] for i in items if i.label_source == "manual"} == {"train", "val", "test"}


def test_a_pseudo_label_listed_before_its_manual_look_alike_does_not_pull_it_out_of_test() -> None:
    """Whatever the order, a group is placed by its hand-labelled images; a pseudo-labelled
    look-alike of a val/test image is left out, never put in train beside it."""
    items = manual(10)
    plan = plan_splits(items, RATIOS, seed=3)
    in_test = next(i for i in items if plan.assignments[i.id] == "test")
    twin = SplitItem("twin", in_test.class_name, in_test.group, None, "pseudo")
    for order in ([twin, *items], [*items, twin]):
        again = plan_splits(order, RATIOS, seed=3)
        assert again.assignments[in_test.id] == "test" and again.excluded == {"twin": "similar_to_test"}


def test_test_split_is_frozen_as_the_dataset_grows() -> None:
    first = manual(10)
    plan = plan_splits(first, RATIOS, seed=1)
    grown = with_splits(first, plan) + manual(10, prefix="new") + pseudo(4)
    again = plan_splits(grown, RATIOS, seed=1)
    assert {k: again.assignments[k] for k in plan.assignments} == plan.assignments  # nobody moved
    new = [i for i in grown if i.id not in plan.assignments]
    assert all(again.assignments[i.id] in ("train", "val") for i in new)
    assert {again.assignments[i.id] for i in new if i.label_source == "manual"} == {"train", "val"}
    test_before = {k for k, v in plan.assignments.items() if v == "test"}
    assert {k for k, v in again.assignments.items() if v == "test"} == test_before


def test_new_look_alikes_of_test_images_are_kept_out_and_of_val_images_join_val() -> None:
    first = manual(10)
    plan = plan_splits(first, RATIOS, seed=2)
    test_item = next(i for i in first if plan.assignments[i.id] == "test")
    val_item = next(i for i in first if plan.assignments[i.id] == "val")
    new = [SplitItem("near-test", test_item.class_name, test_item.group, None, "manual"),
           SplitItem("near-val", val_item.class_name, val_item.group, None, "manual"),
           SplitItem("pseudo-near-val", val_item.class_name, val_item.group, None, "pseudo")]
    again = plan_splits(with_splits(first, plan) + new, RATIOS, seed=2)
    assert again.excluded == {"near-test": "similar_to_test", "pseudo-near-val": "similar_to_val"}
    assert again.assignments["near-val"] == "val"


def test_an_image_pinned_to_test_before_the_first_curate_freezes_test() -> None:
    """`import --test FOLDER` stores images with split 'test' before any curate
    (`pipeline.current_split`): they stay in test, nothing else joins it, their look-alikes stay out."""
    pinned = manual(3, prefix="pinned", split="test")
    rest = manual(10)
    alike = SplitItem("alike", "a", pinned[0].group, None, "manual")
    plan = plan_splits(pinned + rest + [alike], RATIOS, seed=4)
    assert {k for k, v in plan.assignments.items() if v == "test"} == {i.id for i in pinned}
    assert plan.excluded == {"alike": "similar_to_test"}
    counts = Counter(plan.assignments[i.id] for i in rest)
    assert counts == {"train": 22, "val": 8}  # 0.6:0.2 of 30, test's share shared out


def test_resplit_draws_every_manual_split_again_but_keeps_pseudo_labels_in_train() -> None:
    first = manual(10) + pseudo(3)
    plan = plan_splits(first, RATIOS, seed=5)
    current = with_splits(first, plan)
    kept = plan_splits(current, RATIOS, seed=6)
    assert kept.assignments == plan.assignments  # without --resplit another seed changes nothing
    redrawn = plan_splits(current, RATIOS, seed=6, resplit=True)
    assert redrawn.assignments != plan.assignments
    assert redrawn.assignments == plan_splits(first, RATIOS, seed=6).assignments  # as if curated fresh
    assert all(redrawn.assignments[i.id] == "train" for i in first if i.label_source == "pseudo")
    stale = [SplitItem(i.id, i.class_name, i.group, "test" if i.label_source == "pseudo" else i.split,
                       i.label_source) for i in current]  # a pseudo-label wrongly left in test
    assert all(plan_splits(stale, RATIOS, seed=6, resplit=True).assignments[i.id] == "train"
               for i in stale if i.label_source == "pseudo")


def test_too_few_groups_all_go_to_train() -> None:
    assert assign_groups(manual(1, classes=("a",)), RATIOS, 1) == {"m-a-0": "train"}
    assert assign_groups([], RATIOS, 1) == {}


@pytest.mark.parametrize("ratios, folds, expected", [
    ((0.6, 0.2, 0.2), 5, ["test", "val", "train", "train", "train"]),
    ((0.8, 0.1, 0.1), 10, ["test", "val"] + ["train"] * 8),
    ((0.75, 0.25, 0.0), 4, ["val", "train", "train", "train"]),
    ((0.9, 0.05, 0.05), 3, ["test", "val", "train"]),  # small shares still get one fold
    ((0.2, 0.4, 0.4), 2, ["test", "train"]),  # at least one fold of train
    ((0.05, 0.05, 0.9), 2, ["test", "train"]),
    ((0.4, 0.2, 0.4), 5, ["test", "test", "val", "train", "train"]),
    ((0.4, 0.4, 0.2), 5, ["test", "val", "val", "train", "train"]),
    ((0.9, 0.04, 0.06), 10, ["test", "val"] + ["train"] * 8),
    ((0.5, 0.0, 0.5), 4, ["test", "test", "train", "train"]),  # no val asked, none given
])
def test_fold_bounds(ratios: tuple[float, float, float], folds: int, expected: list[str]) -> None:
    assert _fold_bounds(ratios, folds) == expected


def test_a_frozen_test_share_goes_to_train_and_val_in_proportion() -> None:
    assert _without_test((0.6, 0.2, 0.2)) == pytest.approx((0.75, 0.25, 0.0))


def test_folds_are_limited_by_the_groups_and_the_largest_class() -> None:
    two_groups = manual(6, classes=("a",), group_size=3)
    assert Counter(assign_groups(two_groups, RATIOS, 1).values()) == {"test": 3, "train": 3}
    two_per_class = manual(2)  # six groups, but no class could fill more than two folds
    assert Counter(assign_groups(two_per_class, RATIOS, 1).values()) == {"test": 3, "train": 3}


def test_half_and_half_gives_two_folds() -> None:
    assert Counter(assign_groups(manual(10, classes=("a", "b")), (0.5, 0.0, 0.5), 1).values()) == \
        {"test": 10, "train": 10}


# -- issue 19: test freezes per class ------------------------------------------------------------

def test_a_class_added_after_test_froze_gets_test_images_and_the_others_get_none() -> None:
    old = manual(20, ("a", "b"))
    first = plan_splits(old, RATIOS, seed=1)
    tests_before = {i.id for i in old if first.assignments[i.id] == "test"}
    new = manual(20, ("c",), prefix="n") + manual(6, ("a",), prefix="late")
    plan = plan_splits(with_splits(old, first) + new, RATIOS, seed=1)
    assert plan.new_test_classes == ("c",)
    assert Counter(plan.assignments[i.id] for i in new if i.class_name == "c")["test"] >= 3
    assert all(plan.assignments[i.id] != "test" for i in new if i.class_name == "a"), "a's test stays frozen"
    assert {i.id for i in old if plan.assignments[i.id] == "test"} == tests_before
    assert all(plan.assignments[i.id] == first.assignments[i.id] for i in old)
    assert plan_splits(with_splits(old, first) + new, RATIOS, seed=1) == plan, "seeded: the same plan again"


def test_a_class_split_without_test_gets_a_test_share_from_its_train_and_val_groups() -> None:
    items = manual(20, ("a", "b"), group_size=2)
    no_test = plan_splits(items, (0.8, 0.2, 0.0), seed=1)
    assert "test" not in no_test.assignments.values() and no_test.new_test_classes == ()
    again = plan_splits(with_splits(items, no_test), (0.8, 0.2, 0.0), seed=1)
    assert again.assignments == no_test.assignments, "no test share asked: nothing moves"
    plan = plan_splits(with_splits(items, no_test), RATIOS, seed=1)
    assert plan.new_test_classes == ("a", "b")
    moved = [i for i in items if plan.assignments[i.id] != no_test.assignments[i.id]]
    assert moved and all(plan.assignments[i.id] == "test" for i in moved), "images only move into test"
    for name in ("a", "b"):
        assert 2 <= Counter(plan.assignments[i.id] for i in items if i.class_name == name)["test"] <= 8
    assert_groups_whole(items, plan)
    assert plan_splits(with_splits(items, no_test), RATIOS, seed=1) == plan, "seeded: the same plan again"
    assert plan_splits(with_splits(items, plan), RATIOS, seed=1).assignments == plan.assignments, "then frozen"


def test_groups_that_cannot_move_stay_when_a_class_gets_its_test_share() -> None:
    items = manual(12, ("a",))
    no_test = plan_splits(items, (0.8, 0.2, 0.0), seed=2)
    placed = with_splits(items, no_test)
    # every train/val group also holds a pseudo-label, or a look-alike from a class whose test is
    # frozen: none may move
    anchored = [SplitItem(f"p-{i.id}", "a", i.group, "train", "pseudo") for i in placed if i.split == "train"]
    anchored += [SplitItem(f"x-{i.id}", "b", i.group, i.split, "manual") for i in placed if i.split == "val"]
    anchored.append(SplitItem("b-test", "b", "b-test-group", "test", "manual"))
    plan = plan_splits(placed + anchored, RATIOS, seed=2)
    assert all(plan.assignments[i.id] == no_test.assignments[i.id] for i in items)
    assert "a" not in plan.new_test_classes
