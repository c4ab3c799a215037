"""`train --run-id NAME` run again resumes NAME: a finished run is left alone unless asked for more
epochs; more epochs continue it (optimizer state, epoch numbers, one history); a killed run
continues from its last completed epoch."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.processes import child_group, kill_group, wait_for
from tests.training.conftest import build_curated, split_count

pytestmark = pytest.mark.training
SMALL = ("--model", "small-cnn", "--image-size", "32", "--batch-size", "8", "--patience", "50")


def history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def epochs_of(run: Path) -> list[int]:
    return [int(row["epoch"]) for row in history(run)]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def optimizer_steps(run: Path) -> int:
    import keras

    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    return int(model.optimizer.iterations.numpy())


def test_finished_run_is_left_alone_then_continued_with_more_epochs(run_cli, tmp_path: Path) -> None:
    ws = build_curated(tmp_path / "ws", ["daisy", "tulips"])
    run = ws / "models" / "r1"
    first = run_cli("train", ws, *SMALL, "--epochs", "2", "--run-id", "r1")
    assert first.returncode == 0, first.stderr
    assert epochs_of(run) == [0, 1]
    before = snapshot(run)

    for epochs in ("2", "1"):
        same = run_cli("train", ws, *SMALL, "--epochs", epochs, "--run-id", "r1")
        assert same.returncode == 0, same.stderr
        assert "already trained" in same.stdout and "epoch " not in same.stdout.replace("2 epochs", "")
        assert snapshot(run) == before  # not a byte, not a timestamp changed

    more = run_cli("train", ws, *SMALL, "--epochs", "4", "--run-id", "r1")
    assert more.returncode == 0, more.stderr
    assert "epoch   1 " not in more.stdout and "epoch   3 " in more.stdout and "epoch   4 " in more.stdout
    assert epochs_of(run) == [0, 1, 2, 3]
    assert [row for row in history(run)[:2]] == [row for row in csv.DictReader(
        before["history.csv"][0].decode().splitlines())]  # the first run's rows kept as they were
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 4 and metrics["epochs_requested"] == 4
    # the optimizer went on from its state after epoch 2: its step count covers all 4 epochs
    assert optimizer_steps(run) == 4 * math.ceil(split_count(ws, "train") / 8)

    other = run_cli("train", ws, "--model", "small-cnn", "--image-size", "48", "--epochs", "5", "--run-id", "r1")
    assert other.returncode == 1 and "--image-size 32 -> 48" in other.stderr
    assert len([line for line in other.stderr.splitlines() if line.strip()]) == 1


def test_sigkill_during_training_resumes_from_the_last_completed_epoch(run_cli, tmp_path: Path) -> None:
    ws = build_curated(tmp_path / "ws", ["daisy", "tulips"])
    run = ws / "models" / "k"
    args = [sys.executable, str(REPO / "cli.py"), "train", str(ws), *SMALL, "--epochs", "12", "--run-id", "k"]
    with child_group(args) as child:
        wait_for(lambda: (run / "history.csv").is_file() and len(history(run)) >= 2, child, "second epoch", 180)
        assert child.poll() is None  # killed mid-run, not after it
        kill_group(child)
    assert not (run / "metrics.json").exists()
    done = json.loads((run / "backup-train" / "training_metadata.json").read_text())["epoch"]
    assert 1 <= done < 12
    kept = history(run)[:done]

    resumed = run_cli("train", ws, *SMALL, "--epochs", "12", "--run-id", "k")
    assert resumed.returncode == 0, resumed.stderr
    assert f"epoch {done + 1:3d} " in resumed.stdout and f"epoch {done:3d} " not in resumed.stdout
    assert epochs_of(run) == list(range(12))  # continuous, none twice
    assert history(run)[:done] == kept  # the epochs before the kill were not redone
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 12
    assert optimizer_steps(run) == 12 * math.ceil(split_count(ws, "train") / 8)


def test_frozen_backbone_head_continues_from_the_saved_head(tmp_path: Path) -> None:
    import keras
    import numpy as np

    from training.train import TrainConfig, train
    from workspace.layout import open_workspace

    ws = open_workspace(build_curated(tmp_path / "ws", ["daisy", "roses", "tulips"]))
    config = dict(image_size=64, batch_size=8, patience=50, run_id="head")
    first = train(ws, TrainConfig(epochs=2, **config))
    run = first.run_dir
    before = snapshot(run)
    again = train(ws, TrainConfig(epochs=2, **config))
    assert again.already_trained and again.epochs_run == 2 and snapshot(run) == before

    saved = keras.saving.load_model(run / "model.keras", safe_mode=True).get_layer("classes").get_weights()
    more = train(ws, TrainConfig(epochs=4, **config))
    assert not more.already_trained and more.epochs_run == 4
    assert epochs_of(run) == [0, 1, 2, 3]
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 4
    after = keras.saving.load_model(run / "model.keras", safe_mode=True).get_layer("classes").get_weights()
    assert not np.allclose(after[0], saved[0])  # trained on


def test_fit_head_starts_from_the_given_weights(tmp_path: Path) -> None:
    """With a learning rate too small to move them, the head ends where it started: the given
    weights, not a fresh initialisation."""
    import numpy as np

    from training.head import HeadData, HeadSettings, fit_head

    rng = np.random.default_rng(0)
    features = rng.normal(size=(12, 6)).astype("float32")
    data = HeadData(features, features, np.arange(12, dtype=np.int32) % 3)
    settings = HeadSettings(3, epochs=3, batch_size=4, learning_rate=1e-9, patience=5, dropout=0.0, seed=1)
    start = [np.full((6, 3), 0.25, dtype="float32"), np.array([0.1, 0.2, 0.3], dtype="float32")]
    head, history = fit_head(data, data, settings, None, initial_epoch=1, start=start)
    assert history.epoch == [1, 2]
    kernel, bias = head.get_layer("classes").get_weights()
    assert np.allclose(kernel, start[0], atol=1e-5) and np.allclose(bias, start[1], atol=1e-5)



def test_a_fine_tuned_run_killed_in_its_second_stage_redoes_only_the_lost_epoch(tmp_path: Path) -> None:
    from training.train import TrainConfig, train
    from workspace.layout import open_workspace

    ws = open_workspace(build_curated(tmp_path / "ws", ["daisy", "tulips"], per_class=10))
    config = dict(model="mobilenetv2", weights="none", image_size=32, batch_size=8, patience=50, fine_tune=True,
                  fine_tune_epochs=2, run_id="ft")
    first = train(ws, TrainConfig(epochs=1, **config))
    run = first.run_dir
    assert epochs_of(run) == [0, 1, 2] and first.epochs_run == 3  # one history, fine-tuning numbered on
    # as if killed in epoch 2 (the second of fine-tuning), after a first stage that stopped early,
    # at 1 of the 3 epochs it may run
    (run / "metrics.json").unlink()
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        if (run / "backup-fine-tune" / name).exists():
            (run / "backup-fine-tune" / name).write_text(json.dumps({"epoch": 2, "batch": 0}))
    seen: list[int] = []
    again = train(ws, TrainConfig(epochs=3, **config), on_epoch=lambda epoch, logs: seen.append(epoch))
    assert seen == [3] and epochs_of(run) == [0, 1, 2] and again.epochs_run == 3
