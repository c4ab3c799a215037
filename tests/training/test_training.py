"""Training, evaluation and prediction on a tiny curated workspace, through the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.training.conftest import build_curated, split_count

pytestmark = pytest.mark.training


def test_train_evaluate_predict_end_to_end(run_cli, tiny_workspace: Path, tmp_path: Path) -> None:
    ws = tiny_workspace
    trained = run_cli("train", ws, "--model", "small-cnn", "--image-size", "32", "--epochs", "2", "--batch-size", "8",
                      "--run-id", "r1")
    assert trained.returncode == 0, trained.stderr
    assert "epoch   1" in trained.stdout and "epoch   2" in trained.stdout
    run = ws / "models" / "r1"
    for name in ("model.keras", "classes.json", "config.json", "history.csv", "curves.png", "metrics.json"):
        assert (run / name).is_file(), name
    spec = json.loads((run / "classes.json").read_text())
    assert spec["class_names"] == ["daisy", "roses", "tulips"] and spec["image_size"] == 32
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3

    evaluated = run_cli("evaluate", ws, "--run", "r1")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "precision" in evaluated.stdout and f"{split_count(ws, 'test')} images" in evaluated.stdout
    assert (run / "confusion_matrix.png").is_file() and (run / "most_confident_wrong.png").is_file()
    assert "accuracy" in json.loads((run / "metrics.json").read_text())["test"]

    folder = ws / "curated" / "test" / "roses"
    one = sorted(folder.iterdir())[0]
    bad = tmp_path / "broken.jpg"
    bad.write_text("not an image")
    predicted = run_cli("predict", ws, one, folder, bad, "--top-k", "3", "--json")
    assert predicted.returncode == 1  # one file failed, the rest were still predicted
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(lines) == 1 + len(list(folder.iterdir())) + 1
    for line in lines[:-1]:
        confidences = [t["confidence"] for t in line["top"]]
        assert len(confidences) == 3 and confidences == sorted(confidences, reverse=True)
        assert abs(sum(confidences) - 1.0) < 1e-3  # top-3 of 3 classes is the whole distribution
    assert lines[-1]["error"] and lines[-1]["top"] == []
    plain = run_cli("predict", ws / "models" / "r1", one, "--top-k", "1")
    assert plain.returncode == 0 and str(one) in plain.stdout and "%" in plain.stdout


def test_two_classes_and_resume_by_run_id(run_cli, tmp_path: Path) -> None:
    ws = build_curated(tmp_path / "ws2", ["daisy", "tulips"])
    first = run_cli("train", ws, "--model", "small-cnn", "--image-size", "32", "--epochs", "1", "--batch-size", "8",
                    "--run-id", "two")
    assert first.returncode == 0, first.stderr
    again = run_cli("train", ws, "--model", "small-cnn", "--image-size", "32", "--epochs", "2", "--batch-size", "8",
                    "--run-id", "two")
    assert again.returncode == 0, again.stderr
    history = (ws / "models" / "two" / "history.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"]  # continued: epoch 0 not redone
    assert json.loads((ws / "models" / "two" / "metrics.json").read_text())["epochs_run"] == 2


def test_offline_imagenet_weights_fail_fast_with_advice(run_cli, tiny_workspace: Path) -> None:
    started = time.monotonic()
    result = run_cli("train", tiny_workspace, "--model", "mobilenetv2", "--weights", "imagenet",
                     "--image-size", "32", "--epochs", "1")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--weights PATH" in lines[0] and "--weights none" in lines[0]
    assert "efficientnet-lite0" in lines[0]  # the model that needs no download
    assert elapsed < 60


def test_transfer_model_with_weights_from_a_file(tiny_workspace: Path, tmp_path: Path) -> None:
    import keras

    from training.train import TrainConfig, train
    from workspace.layout import open_workspace

    backbone = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    weights = tmp_path / "mobilenetv2_notop.weights.h5"
    backbone.save_weights(weights)
    result = train(open_workspace(tiny_workspace), TrainConfig(model="mobilenetv2", weights=str(weights),
                                                               image_size=32, epochs=1, batch_size=8,
                                                               run_id="transfer"))
    assert (result.run_dir / "model.keras").is_file() and result.epochs_run == 1

