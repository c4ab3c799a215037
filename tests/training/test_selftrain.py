"""Pseudo-labelling rules (the loop end to end runs via the demo in tests/reliability)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_jpeg
from training.errors import TrainingError
from training.pseudo_label import PoolImage, apply_decisions, decide_labels, pseudo_label_pool, precision_of
from workspace.layout import init_workspace
from workspace.storage import IngestMeta, ingest_file

CLASSES = ["a", "b", "c"]


def probs(*rows: tuple[float, float, float]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def test_agree_mode_needs_the_query_class_and_the_threshold() -> None:
    items = [PoolImage("1", "p1", "a", "a"), PoolImage("2", "p2", "a", "b"), PoolImage("3", "p3", "b", "b")]
    decisions = decide_labels(items, probs((0.95, 0.03, 0.02), (0.1, 0.85, 0.05), (0.3, 0.5, 0.2)),
                              CLASSES, "agree", 0.9)
    by_id = {d.image_id: d for d in decisions}
    assert by_id["1"].accepted and by_id["1"].predicted == "a"
    assert not by_id["2"].accepted and by_id["2"].reason == "disagrees_with_query"
    assert not by_id["3"].accepted and by_id["3"].reason == "low_confidence"
    assert by_id["3"].confidence == pytest.approx(0.5)
    assert precision_of(decisions) == 1.0


def test_pool_mode_uses_the_prediction_and_caps_keep_classes_balanced() -> None:
    items = [PoolImage(str(i), f"p{i}", None) for i in range(6)]
    p = probs((0.99, 0, 0.01), (0.97, 0.02, 0.01), (0.93, 0.05, 0.02), (0.05, 0.94, 0.01), (0.1, 0.2, 0.7),
              (0.91, 0.09, 0))
    decisions = {d.image_id: d for d in decide_labels(items, p, CLASSES, "pool", 0.9, caps={"a": 2, "b": 5})}
    accepted_a = sorted((d for d in decisions.values() if d.accepted and d.predicted == "a"), key=lambda d: d.image_id)
    assert [d.image_id for d in accepted_a] == ["0", "1"]  # the two most confident
    assert decisions["2"].reason == "over_cap" and decisions["5"].reason == "over_cap"
    assert decisions["3"].accepted and decisions["3"].predicted == "b"
    assert decisions["4"].reason == "low_confidence"


def test_bad_mode_and_threshold_are_clear_errors() -> None:
    with pytest.raises(TrainingError, match="--mode"):
        decide_labels([], probs(), CLASSES, "vote", 0.9)
    with pytest.raises(TrainingError, match="--threshold"):
        decide_labels([], probs(), CLASSES, "pool", 1.5)


def test_decisions_are_applied_to_a_real_catalog(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", CLASSES).workspace
    with ws.catalog() as catalog:
        ids = []
        for i in range(3):
            path = make_jpeg(tmp_path / f"{i}.jpg", (30 * i, 90, 150), size=(64, 64), pattern=i)
            ids.append(ingest_file(ws, catalog, path, IngestMeta(str(path), "a", "candidate")).image_id)
        pending = pseudo_label_pool(catalog, "agree")
        assert {c.image_id for c in pending} == set(ids)
        decisions = decide_labels(pending, probs((0.95, 0.05, 0), (0.2, 0.8, 0), (0.6, 0.2, 0.2)), CLASSES,
                                  "agree", 0.9)
        apply_decisions(catalog, decisions, round_=1)
        rows = {r["id"]: dict(r) for r in catalog.all("SELECT * FROM images")}
    accepted = [r for r in rows.values() if r["label_source"] == "pseudo"]
    assert len(accepted) == 1 and accepted[0]["round"] == 1 and accepted[0]["confidence"] == pytest.approx(0.95)
    rejected = [r for r in rows.values() if r["status"] == "rejected"]
    assert {r["reason"] for r in rejected} == {"disagrees_with_query", "low_confidence"}
    assert all(r["confidence"] is not None for r in rejected)  # kept with their confidence


# The demo end to end (its printed table, catalog and report) is checked after a SIGKILL mid-round
# and a resume: tests/reliability/test_crash_and_concurrency.py.
