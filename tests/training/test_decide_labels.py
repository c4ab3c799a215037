"""`decide_labels`, the acceptance rule, decision by decision: every field of every decision is
checked, so a change to any branch of the rule shows (its mutation score is in the README)."""

from __future__ import annotations

import numpy as np
import pytest

from training.errors import TrainingError
from training.pseudo_label import PoolImage, LabelDecision, decide_labels

CLASSES = ["a", "b", "c"]


def pool_images(query: list[str | None]) -> list[PoolImage]:
    return [PoolImage(f"id{k}", f"path{k}", q, true_class=f"true{k}") for k, q in enumerate(query)]


def test_agree_mode_every_reason_with_every_field() -> None:
    items = pool_images(["a", "a", "b", "c", "a"])
    probs = np.array([(0.9, 0.05, 0.05),    # agrees, confident: accepted
                      (0.1, 0.8, 0.1),      # teacher says b, crawled for a
                      (0.3, 0.4, 0.3),      # b but under the floor
                      (0.1, 0.1, 0.8),      # c, over the floor, under c's own threshold
                      (0.6, 0.2, 0.2)])     # a, exactly at the floor: accepted (the floor is inclusive)
    decisions = decide_labels(items, probs, CLASSES, "agree", 0.6, per_class={"c": 0.85, "a": 0.5},
                              errors={})
    assert decisions == [
        LabelDecision("id0", "path0", "a", "a", pytest.approx(0.9), True, None, "true0", 0.6),
        LabelDecision("id1", "path1", "a", "b", pytest.approx(0.8), False, "disagrees_with_query", "true1", 0.6),
        LabelDecision("id2", "path2", "b", "b", pytest.approx(0.4), False, "low_confidence", "true2", 0.6),
        LabelDecision("id3", "path3", "c", "c", pytest.approx(0.8), False, "below_class_threshold", "true3", 0.85),
        LabelDecision("id4", "path4", "a", "a", pytest.approx(0.6), True, None, "true4", 0.6),
    ]


def test_exactly_at_a_class_threshold_is_enough() -> None:
    probs = np.array([(0.25, 0.5, 0.25)], dtype=np.float64)
    [decision] = decide_labels(pool_images([None]), probs, CLASSES, "pool", 0.5, per_class={"b": 0.5})
    assert decision.accepted and decision.reason is None and decision.threshold == 0.5


def test_pool_mode_takes_the_top_class_whatever_the_query() -> None:
    probs = np.array([(0.1, 0.8, 0.1), (0.1, 0.1, 0.8)])
    decisions = decide_labels(pool_images(["a", None]), probs, CLASSES, "pool", 0.5)
    assert [(d.predicted, d.accepted, d.reason) for d in decisions] == [("b", True, None), ("c", True, None)]


def test_unreadable_rows_are_decisions_too() -> None:
    probs = np.array([(0.9, 0.05, 0.05), (np.nan, np.nan, np.nan), (0.05, 0.05, 0.9)])
    decisions = decide_labels(pool_images(["a", "b", "c"]), probs, CLASSES, "agree", 0.5, errors={1: "truncated"})
    assert decisions[1] == LabelDecision("id1", "path1", "b", None, 0.0, False, "unreadable", "true1", 0.0)
    assert decisions[0].accepted and decisions[2].accepted  # the rows after it are still judged


def test_caps_take_the_most_confident_first_ties_by_id() -> None:
    items = [PoolImage(i, f"p{i}", "a") for i in ("z", "y", "x", "w")]
    probs = np.array([(0.7, 0.2, 0.1), (0.9, 0.05, 0.05), (0.7, 0.2, 0.1), (0.8, 0.1, 0.1)])
    decisions = decide_labels(items, probs, CLASSES, "agree", 0.5, caps={"a": 3, "b": 0})
    assert {d.image_id: (d.accepted, d.reason) for d in decisions} == {
        "y": (True, None), "w": (True, None), "x": (True, None), "z": (False, "over_cap")}
    assert [d.path for d in decisions] == ["pz", "py", "px", "pw"]  # order and fields kept
    assert all(d.true_class is None and d.threshold == 0.5 for d in decisions)


def test_a_class_that_needs_nothing_takes_nothing() -> None:
    probs = np.array([(0.9, 0.05, 0.05)] * 2 + [(0.05, 0.9, 0.05)])
    decisions = decide_labels(pool_images(["a", "a", "b"]), probs, CLASSES, "agree", 0.5, caps={"a": 0, "b": 5})
    assert [(d.accepted, d.reason) for d in decisions] == [(False, "over_cap"), (False, "over_cap"), (True, None)]
    negative = decide_labels(pool_images(["a"]), probs[:1], CLASSES, "agree", 0.5, caps={"a": -3})
    assert negative[0].reason == "over_cap"
    missing = decide_labels(pool_images(["c"]), np.array([(0.0, 0.0, 1.0)]), CLASSES, "agree", 0.5, caps={"a": 1})
    assert missing[0].reason == "over_cap"  # a class not in caps needs nothing


def test_balance_caps_an_over_predicted_class_with_its_own_reason() -> None:
    probs = np.array([(0.9, 0.05, 0.05)] * 5 + [(0.05, 0.9, 0.05)] * 2)
    items = pool_images([None] * 7)
    decisions = decide_labels(items, probs, CLASSES, "pool", 0.5, caps={"a": 4, "b": 9, "c": 9}, balance=1.0)
    # needs: a 4 (of 5 eligible), b 2, c 0; median of (4, 2, 0) is 2, so a may take 2
    assert [d.reason for d in decisions] == [None, None, "balance_cap", "balance_cap", "over_cap", None, None]
    assert sum(d.accepted for d in decisions) == 4
    unbalanced = decide_labels(items, probs, CLASSES, "pool", 0.5, caps={"a": 4, "b": 9, "c": 9})
    assert sum(d.accepted for d in unbalanced) == 6


@pytest.mark.parametrize("mode, threshold, message", [
    ("vote", 0.5, "--mode must be agree or pool, got 'vote'"),
    ("agree", 0.0, r"--threshold must be in \(0, 1\], got 0.0"),
    ("agree", 1.5, r"--threshold must be in \(0, 1\], got 1.5"),
])
def test_bad_settings_are_one_line_with_the_value(mode: str, threshold: float, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        decide_labels(pool_images(["a"]), np.array([(1.0, 0.0, 0.0)]), CLASSES, mode, threshold)


def test_a_threshold_of_one_accepts_only_certainty() -> None:
    probs = np.array([(1.0, 0.0, 0.0), (0.99, 0.01, 0.0)])
    decisions = decide_labels(pool_images(["a", "a"]), probs, CLASSES, "agree", 1.0)
    assert [d.accepted for d in decisions] == [True, False]


@pytest.mark.parametrize("caps, taken_a", [
    (None, 1),                              # all classes count: median of (5, 1, 0) is 1
    ({"a": 4, "b": 1}, 3),                  # c needs nothing: median of (4, 1) is 2.5, ceil 3
    ({"a": 4, "b": 1, "c": 0}, 3),          # the same said outright
])
def test_the_balance_median_counts_only_classes_that_still_need_images(caps, taken_a: int) -> None:
    probs = np.array([(0.9, 0.05, 0.05)] * 5 + [(0.05, 0.9, 0.05)])
    decisions = decide_labels(pool_images([None] * 6), probs, CLASSES, "pool", 0.5, caps=caps, balance=1.0)
    assert sum(d.accepted and d.predicted == "a" for d in decisions) == taken_a
    assert sum(d.accepted and d.predicted == "b" for d in decisions) == 1
