"""The judgement rules of self-training, pure: per-class thresholds, balance, off-class cleaning."""

from __future__ import annotations

import numpy as np
import pytest

from selftrain.cleaning import find_off_class
from training.pseudo_label import PoolImage, class_thresholds, decide_labels, starved_classes

CLASSES = ["a", "b", "c"]


def test_one_over_predicted_class_cannot_swallow_the_round() -> None:
    """The pool-mode failure: 95 of 107 confident pseudo-labels went to one class."""
    items = [PoolImage(str(i), f"p{i}", None) for i in range(40)]
    rows = [(0.97, 0.02, 0.01)] * 30 + [(0.05, 0.93, 0.02)] * 6 + [(0.04, 0.04, 0.92)] * 4
    decisions = decide_labels(items, np.array(rows), CLASSES, "pool", 0.5, caps={"a": 50, "b": 50, "c": 50},
                              balance=1.5)
    taken = {n: sum(d.accepted and d.predicted == n for d in decisions) for n in CLASSES}
    assert taken == {"a": 9, "b": 6, "c": 4}  # median take 6, so at most ceil(1.5 * 6) = 9
    assert {d.reason for d in decisions if d.predicted == "a" and not d.accepted} == {"balance_cap"}
    accepted_a = [d.confidence for d in decisions if d.accepted and d.predicted == "a"]
    assert len(accepted_a) == 9


def test_a_class_without_confident_candidates_is_reported_not_made_up_for() -> None:
    items = [PoolImage(str(i), f"p{i}", "a" if i < 10 else "b") for i in range(12)]
    rows = [(0.95, 0.03, 0.02)] * 10 + [(0.3, 0.4, 0.3)] * 2
    caps = {"a": 10, "b": 10, "c": 10}
    decisions = decide_labels(items, np.array(rows), CLASSES, "agree", 0.5, caps=caps, balance=1.5)
    assert sum(d.accepted for d in decisions) == 1          # median of (10, 0, 0) is 0: at least one each
    assert starved_classes(decisions, caps, CLASSES) == ("b", "c")


def test_each_class_needs_its_own_threshold_above_the_floor() -> None:
    items = [PoolImage("1", "p1", "a"), PoolImage("2", "p2", "b"), PoolImage("3", "p3", "a")]
    rows = np.array([(0.8, 0.1, 0.1), (0.1, 0.8, 0.1), (0.4, 0.3, 0.3)])
    decisions = {d.image_id: d for d in decide_labels(items, rows, CLASSES, "agree", 0.5,
                                                       per_class={"a": 0.9, "b": 0.7})}
    assert not decisions["1"].accepted and decisions["1"].reason == "below_class_threshold"
    assert decisions["1"].threshold == pytest.approx(0.9)
    assert decisions["2"].accepted and decisions["2"].threshold == pytest.approx(0.7)
    assert decisions["3"].reason == "low_confidence"        # below the floor


def test_class_thresholds_are_the_mean_self_confidence() -> None:
    probs = np.array([(0.9, 0.1, 0.0), (0.7, 0.2, 0.1), (0.2, 0.6, 0.2)])
    assert class_thresholds(probs, np.array([0, 0, 1]), CLASSES) == pytest.approx({"a": 0.8, "b": 0.6})


def test_class_thresholds_at_a_quantile_of_self_confidence() -> None:
    probs = np.array([(0.9, 0.1, 0.0), (0.7, 0.2, 0.1), (0.5, 0.3, 0.2), (0.2, 0.6, 0.2)])
    assert class_thresholds(probs, np.array([0, 0, 0, 1]), CLASSES, quantile=0.25) == pytest.approx(
        {"a": 0.6, "b": 0.6})


def test_off_class_needs_a_low_own_score_and_a_confident_other_class() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2])
    probs = np.array([
        (0.9, 0.05, 0.05), (0.8, 0.1, 0.1), (0.7, 0.2, 0.1),
        (0.1, 0.85, 0.05),   # labelled a, clearly b: held back
        (0.1, 0.8, 0.1), (0.2, 0.7, 0.1),
        (0.4, 0.35, 0.25),   # labelled b, unsure everywhere: kept (no other class is confident)
        (0.1, 0.1, 0.8), (0.05, 0.15, 0.8)])
    rule = find_off_class(probs, labels)
    assert rule.thresholds == pytest.approx([0.625, 0.6166667, 0.8], abs=1e-6)
    assert rule.held_back.tolist() == [False, False, False, True, False, False, False, False, False]


def test_a_label_only_somewhat_below_its_class_threshold_is_kept() -> None:
    """Plain confident learning would drop row 1 (own 0.45 < 0.6, other class confident); Harvest
    holds back only labels below half their class's threshold, trading a little recall for precision."""
    labels = np.array([0, 0, 0, 1, 1])
    probs = np.array([(0.9, 0.1), (0.45, 0.55), (0.45, 0.55), (0.5, 0.5), (0.4, 0.6)])
    assert find_off_class(probs, labels, own_factor=1.0).held_back.tolist() == [False, True, True, False, False]
    assert find_off_class(probs, labels).held_back.tolist() == [False] * 5


def test_a_model_judges_labels_only_when_kappa_reaches_0_4() -> None:
    from selftrain.cleaning import trustworthy

    assert trustworthy(0.52, 5) and not trustworthy(0.51, 5)   # chance 0.2: the bar is 0.52
    assert trustworthy(0.70, 2) and not trustworthy(0.69, 2)   # chance 0.5: the bar is 0.7


def test_mcnemar_counts_only_the_images_the_two_models_disagree_on() -> None:
    from selftrain.compare import mcnemar_p

    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(9, 13) == pytest.approx(0.5235, abs=1e-4)      # the demo's -3.2 points: noise
    assert mcnemar_p(13, 9) == mcnemar_p(9, 13)
    assert mcnemar_p(2, 18) == pytest.approx(0.000402, abs=1e-6)    # a real difference
