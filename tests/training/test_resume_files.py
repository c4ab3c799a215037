"""The run-folder bookkeeping of resume, without Keras (so `make test-fast` runs it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.errors import TrainingError
from training.resume import backup_epochs, check_same_run, history_epochs, keep_history, requested_epochs


def test_unfinished_run_without_a_backup_starts_its_history_again(tmp_path: Path) -> None:
    from training.resume import history_epochs, keep_history

    run = tmp_path / "run"
    run.mkdir()
    (run / "history.csv").write_text("epoch,loss\n0,1.0\n1,0.9\n2,0.8\n")
    keep_history(run, 2)
    assert (run / "history.csv").read_text().splitlines() == ["epoch,loss", "0,1.0", "1,0.9"]
    keep_history(run, 0)
    assert not (run / "history.csv").exists() and history_epochs(run) == 0


def test_history_rows_after_the_backup_are_cut_not_duplicated(tmp_path: Path) -> None:
    backup = tmp_path / "backup-train"
    backup.mkdir()
    assert backup_epochs(backup) == 0
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 3, "batch": 0}))
    assert backup_epochs(backup) == 3
    (tmp_path / "history.csv").write_text("epoch,loss\n0,1\n1,1\n2,1\n3,1\n")  # epoch 3 logged, not backed up
    keep_history(tmp_path, backup_epochs(backup))
    assert history_epochs(tmp_path) == 3


def test_older_runs_without_a_requested_count_use_the_epochs_run() -> None:
    assert requested_epochs({"epochs_run": 7}) == 7
    assert requested_epochs({"epochs_run": 3, "epochs_requested": 30}) == 30


def test_a_run_name_is_not_reused_for_another_model(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model": "small-cnn", "image_size": 32, "epochs": 2}))
    check_same_run(tmp_path, {"model": "small-cnn", "image_size": 32, "epochs": 9})  # more epochs: fine
    with pytest.raises(TrainingError, match=r"--model 'small-cnn' -> 'efficientnet-lite0'"):
        check_same_run(tmp_path, {"model": "efficientnet-lite0", "image_size": 32})
