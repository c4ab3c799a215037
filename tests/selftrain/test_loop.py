"""The self-training loop through the real stages (import, curate, cached features, training),
in pool mode so no browser is needed; and the `--test FOLDER` rules."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.training.conftest import make_photos

CLASSES = ["daisy", "roses", "sunflowers"]


def catalog_rows(ws: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(ws / "catalog.sqlite") as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("photos")
    labelled = make_photos(base / "labelled", CLASSES, per_class=16, size=128)
    test = make_photos(base / "test", CLASSES, per_class=8, size=128, offset=16)
    pool_by_class = make_photos(base / "pool-by-class", CLASSES, per_class=14, size=128, offset=24)
    pool = base / "pool"
    pool.mkdir()
    for path in pool_by_class.rglob("*.jpg"):
        shutil.copy(path, pool / path.name)
    return {"labelled": labelled, "test": test, "pool": pool}


@pytest.fixture(scope="module")
def pool_run(photos, tmp_path_factory: pytest.TempPathFactory):
    from selftrain.loop import SelfTrainConfig, self_train
    from workspace.importer import import_labelled
    from workspace.layout import init_workspace

    root = tmp_path_factory.mktemp("loop") / "ws"
    ws = init_workspace(root, CLASSES, split=(0.7, 0.3, 0.0)).workspace
    import_labelled(ws, photos["labelled"])
    config = SelfTrainConfig(schedule=(16, 26), mode="pool", pool=photos["pool"], test=photos["test"],
                             image_size=128, curate_size=128, epochs=40, train_patience=8, threshold=0.4,
                             baseline=False)
    messages: list[str] = []
    summary = self_train(ws, config, notify=messages.append)
    return root, config, summary, messages, photos


@pytest.mark.training
def test_pool_rounds_accept_pseudo_labels_that_only_ever_join_train(pool_run) -> None:
    root, _, summary, messages, photos = pool_run
    assert [r.round for r in summary.rounds] == [0, 1]
    assert summary.rounds[1].accepted > 0, messages
    pseudo = catalog_rows(root, "SELECT split, status FROM images WHERE label_source = 'pseudo'")
    assert len(pseudo) == summary.rounds[1].accepted
    assert {split for split, _ in pseudo} == {"train"}
    test = catalog_rows(root, "SELECT label_source, source FROM images WHERE split = 'test' AND status = 'accepted'")
    assert {source for _, source in test} <= {str(p.resolve()) for p in photos["test"].rglob("*.jpg")}
    assert {label for label, _ in test} == {"manual"} and len(test) >= 20  # the clean folder, less its look-alikes
    assert summary.rounds[1].test_labels == "manual" and summary.rounds[1].test_images == len(test)
    one = json.loads((root / "models" / "round-0" / "metrics.json").read_text())["test"]["images"]
    two = json.loads((root / "models" / "round-1" / "metrics.json").read_text())["test"]["images"]
    assert one == two == len(test)
    assert any("fewer than 20 per class" in m for m in messages)  # 8 per class: said to be noise


@pytest.mark.training
def test_each_round_leaves_decisions_audit_and_metrics(pool_run) -> None:
    root, _, summary, _, _ = pool_run
    round_dir = root / "rounds" / "1"
    with open(round_dir / "decisions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary.rounds[1].candidates > 0
    assert sum(r["accepted"] == "1" for r in rows) == summary.rounds[1].accepted
    for r in rows:
        if r["accepted"] == "1":
            assert float(r["confidence"]) >= float(r["threshold"]) >= 0.4
        else:
            assert r["reason"] in ("low_confidence", "below_class_threshold", "over_cap", "balance_cap")
    assert (round_dir / "audit.png").stat().st_size > 1000
    metrics = json.loads((round_dir / "metrics.json").read_text())
    assert metrics["round"] == 1 and metrics["accepted"] == summary.rounds[1].accepted


@pytest.mark.training
def test_rerunning_finished_rounds_changes_nothing(pool_run) -> None:
    from selftrain.loop import self_train
    from workspace.layout import open_workspace

    root, config, summary, _, _ = pool_run
    before = catalog_rows(root, "SELECT id, status, split, label_source FROM images ORDER BY id")
    again = self_train(open_workspace(root), config, notify=lambda m: None)
    assert [r.round for r in again.rounds] == [0, 1]
    assert catalog_rows(root, "SELECT id, status, split, label_source FROM images ORDER BY id") == before


def test_a_test_folder_with_unknown_classes_or_no_images_is_one_clear_line(tmp_path: Path, photos) -> None:
    from selftrain.testset import import_clean_test_folder
    from training.errors import TrainingError
    from workspace.layout import init_workspace

    ws = init_workspace(tmp_path / "ws", CLASSES).workspace
    (tmp_path / "odd" / "tulips").mkdir(parents=True)
    shutil.copy(next(photos["test"].rglob("*.jpg")), tmp_path / "odd" / "tulips" / "x.jpg")
    with pytest.raises(TrainingError, match="not classes of this workspace: tulips"):
        import_clean_test_folder(ws, tmp_path / "odd")
    (tmp_path / "empty" / "daisy").mkdir(parents=True)
    with pytest.raises(TrainingError, match="holds no files"):
        import_clean_test_folder(ws, tmp_path / "empty")
    with pytest.raises(TrainingError, match="not found"):
        import_clean_test_folder(ws, tmp_path / "missing")


def test_a_test_image_that_duplicates_training_data_is_refused_and_nothing_moves(tmp_path: Path, photos) -> None:
    from curation.pipeline import CurateConfig, curate
    from selftrain.testset import import_clean_test_folder
    from training.errors import TrainingError
    from workspace.importer import import_labelled
    from workspace.layout import init_workspace

    ws = init_workspace(tmp_path / "ws", CLASSES, split=(0.8, 0.2, 0.0)).workspace
    import_labelled(ws, photos["labelled"])
    curate(ws, CurateConfig(size=64, split=(0.8, 0.2, 0.0)))
    before = catalog_rows(ws.root, "SELECT id, status, split FROM images ORDER BY id")
    train_file = catalog_rows(ws.root, "SELECT source FROM images WHERE split = 'train' LIMIT 1")[0][0]
    folder = tmp_path / "test"
    shutil.copytree(photos["test"], folder)
    shutil.copy(train_file, folder / "daisy" / "copy-of-train.jpg")
    with pytest.raises(TrainingError, match=r"image\(s\) duplicate training images \(first: .*copy-of-train"):
        import_clean_test_folder(ws, folder)
    assert catalog_rows(ws.root, "SELECT id, status, split FROM images ORDER BY id") == before
