"""`runs`: one row per run folder, JSON for scripts, a figure of the curves, damaged runs isolated."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

from workspace.layout import init_workspace

HISTORY = "epoch,accuracy,loss,val_accuracy,val_loss,learning_rate\n0,0.5,1.2,0.55,1.1,0.001\n1,0.7,0.8,0.65,0.9,0.001\n"


def write_run(models: Path, name: str, config: dict | None, metrics: dict | str | None, history: str | None,
              age: int = 0) -> Path:
    folder = models / name
    folder.mkdir(parents=True)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    if metrics is not None:
        (folder / "metrics.json").write_text(metrics if isinstance(metrics, str) else json.dumps(metrics))
    if history is not None:
        (folder / "history.csv").write_text(history)
    for file in folder.iterdir():
        os.utime(file, (1_700_000_000 + age, 1_700_000_000 + age))
    return folder


def make_workspace(tmp_path: Path) -> Path:
    ws = init_workspace(tmp_path / "ws", ["데이지", "장미"]).workspace
    write_run(ws.models_dir, "20260101-small", {"model": "small-cnn", "weights": "none", "image_size": 128,
                                                "batch_size": 32, "epochs": 30, "new_key": [1, 2]},
              {"val_accuracy": 0.65, "val_loss": 0.9, "epochs_run": 2, "train_images": 40, "seconds": 12.3,
               "images_per_second": 6.5, "test": {"accuracy": 0.6, "loss": 1.0}, "added_later": {"x": 1}},
              HISTORY, age=1)
    write_run(ws.models_dir, "broken", {"model": "small-cnn"}, '{"val_accuracy": 0.9, ', HISTORY, age=2)
    write_run(ws.models_dir, "lite0", {"model": "efficientnet-lite0", "weights": "imagenet", "image_size": 224},
              {"val_accuracy": 0.9, "epochs_run": 5, "seconds": "oops"}, HISTORY, age=3)
    write_run(ws.models_dir, "running", {"model": "small-cnn", "batch_size": 16}, None, None, age=4)
    (ws.models_dir / "not-a-run").mkdir()
    return ws.root


def test_runs_json_has_one_row_per_run_with_blanks_for_missing_values(run_cli, tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    result = run_cli("runs", root, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["run"] for r in rows] == ["20260101-small", "broken", "lite0", "running"]
    small, broken, lite0, running = rows
    assert small == {**small, "state": "finished", "model": "small-cnn", "weights": "none", "image_size": 128,
                     "batch_size": 32, "epochs_run": 2, "seconds": 12.3, "images_per_second": 6.5,
                     "train_images": 40, "val_accuracy": 0.65, "test_accuracy": 0.6, "problem": None}
    assert broken["state"] == "unreadable" and "JSONDecodeError" in broken["problem"]
    assert lite0["model"] == "efficientnet-lite0" and lite0["seconds"] is None and lite0["test_accuracy"] is None
    assert running["state"] == "unfinished" and running["batch_size"] == 16 and running["val_accuracy"] is None


def test_runs_table_prints_every_readable_run_and_names_the_damaged_one(run_cli, tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    result = run_cli("runs", root)
    assert result.returncode == 0, result.stderr
    for text in ("model", "weights", "image size", "batch", "epochs run", "seconds", "train images/s",
                 "val accuracy", "test accuracy", "20260101-small", "0.650", "0.600", "6.5", "lite0",
                 "efficientnet-lite0", "(unreadable)"):
        assert text in result.stdout, text
    assert "run broken is unreadable: JSONDecodeError" in result.stderr


def test_runs_plot_writes_one_figure_of_the_selected_runs(run_cli, tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    result = run_cli("runs", root, "--plot", "--run", "lite0", "--run", "20260101-small")
    assert result.returncode == 0, result.stderr
    with Image.open(root / "reports" / "runs.png") as figure:
        assert figure.width > 500 and figure.height > 200
    unknown = run_cli("runs", root, "--run", "nope")
    assert unknown.returncode == 1 and "no run named 'nope'" in unknown.stderr


def test_runs_without_runs_says_so_in_one_line(run_cli, tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "empty", ["a", "b"]).workspace.root
    result = run_cli("runs", root)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no training runs" in lines[0]
