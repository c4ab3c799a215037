"""The report's training-runs table: every run folder, values as `runs` shows them, names escaped."""

from __future__ import annotations

from pathlib import Path

from curation.report import build_report
from tests.workspace.test_runs import HISTORY, write_run
from workspace.layout import init_workspace


def test_report_has_the_runs_table(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", ["데이지", "장미"]).workspace
    assert "No training run yet" in build_report(ws).read_text(encoding="utf-8")
    write_run(ws.models_dir, "<b>run", {"model": "small-cnn", "weights": "none", "image_size": 96, "batch_size": 8},
              {"val_accuracy": 0.625, "epochs_run": 3, "seconds": 41.2, "images_per_second": 17.25,
               "test": {"accuracy": 0.5}}, HISTORY, age=1)
    write_run(ws.models_dir, "damaged", {"model": "small-cnn"}, "[1,", None, age=2)
    page = build_report(ws).read_text(encoding="utf-8")
    section = page.split("<h2 id=runs>")[1]
    assert "<b>run" not in page and "&lt;b&gt;run" in section
    for value in ("small-cnn", ">96<", ">8<", ">3<", ">41<", ">17.2<", ">0.625<", ">0.500<"):
        assert value in section, value
    assert "damaged" in section and "unreadable" in section
