"""Korean class names end to end through the CLI: init, import, curate, train, evaluate, runs,
report and export, with the names intact in folders, model files, the report and the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageOps

from tests.conftest import SHARED_FLOWERS, make_jpeg

pytestmark = pytest.mark.training

CLASSES = {"데이지": "daisy", "장미": "roses"}
PER_CLASS = 16


def korean_photo_folder(root: Path) -> Path:
    """FOLDER/<Korean class>/*.jpg: the shared real photos when present, else generated ones."""
    for k, (name, english) in enumerate(CLASSES.items()):
        folder = root / name
        folder.mkdir(parents=True)
        real = sorted((SHARED_FLOWERS / english).glob("*.jpg"))[:PER_CLASS]
        for i in range(PER_CLASS):
            if len(real) == PER_CLASS:
                with Image.open(real[i]) as image:
                    ImageOps.fit(image.convert("RGB"), (96, 96)).save(folder / f"{i}.jpg", quality=90)
            else:
                make_jpeg(folder / f"{i}.jpg", ((k * 120 + i * 7) % 256, 80, 160), size=(96 + i, 96),
                          pattern=k * PER_CLASS + i)
    return root


def ok(result):
    assert result.returncode == 0, result.stderr
    return result


def test_korean_class_names_end_to_end(run_cli, tmp_path: Path) -> None:
    ws = tmp_path / "꽃"
    ok(run_cli("init", ws, "--classes", ",".join(CLASSES), "--engines", "naver,bing"))
    config = json.loads((ws / "harvest.json").read_text(encoding="utf-8"))
    assert {name: spec["queries"] for name, spec in config["classes"].items()} == {"데이지": ["데이지"], "장미": ["장미"]}

    imported = ok(run_cli("import", ws, korean_photo_folder(tmp_path / "photos")))
    assert f"imported {2 * PER_CLASS} new" in imported.stdout
    curated = json.loads(ok(run_cli("curate", ws, "--size", "48", "--json", "--workers", "1")).stdout)
    assert set(curated["splits"]) == set(CLASSES)
    for name in CLASSES:
        assert any((ws / "curated" / "train" / name).iterdir())

    trained = ok(run_cli("train", ws, "--model", "small-cnn", "--image-size", "32", "--epochs", "1",
                         "--batch-size", "8", "--run-id", "한국어-1"))
    assert "데이지" not in trained.stderr
    run = ws / "models" / "한국어-1"
    assert json.loads((run / "classes.json").read_text(encoding="utf-8"))["class_names"] == list(CLASSES)
    ok(run_cli("evaluate", ws, "--run", "한국어-1"))

    runs = json.loads(ok(run_cli("runs", ws, "--json")).stdout)
    assert [r["run"] for r in runs] == ["한국어-1"]
    assert runs[0]["model"] == "small-cnn" and runs[0]["epochs_run"] == 1 and runs[0]["test_accuracy"] is not None

    ok(run_cli("report", ws))
    page = (ws / "reports" / "index.html").read_text(encoding="utf-8")
    assert "데이지" in page and "장미" in page and "한국어-1" in page

    ok(run_cli("export", ws, "--out", tmp_path / "manifest.csv"))
    manifest = pd.read_csv(tmp_path / "manifest.csv")
    assert set(manifest["class"]) == set(CLASSES)
    assert (manifest["status"] == "accepted").sum() == sum(sum(s.values()) for s in curated["splits"].values())
