"""Issue 19, points 2, 5 and 6: runs tied to the dataset version they trained on, the best run on
the current version, evaluate/predict saying which run and why, stale runs warned about (naming
the test images they trained on), missing run folders skipped, the training guard, one-line
run-loading errors. Real curated workspace, real Keras (small-cnn, 32 px, 1 epoch)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.training.conftest import build_curated, make_photos
from training.errors import TrainingError
from workspace.layout import open_workspace

CLASSES = ["daisy", "roses", "tulips"]
pytestmark = pytest.mark.training


def tiny_config(run_id: str, **extra):
    from training.train import TrainConfig

    return TrainConfig(model="small-cnn", image_size=32, epochs=1, batch_size=16, run_id=run_id, **extra)


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory):
    """r1 trained on version 1; a resplit makes version 2; r2 trained on it. r1's val accuracy is
    then set to 1.0: the inflated number of a run trained on broken data."""
    from curation.pipeline import CurateConfig, curate
    from training.train import train

    root = build_curated(tmp_path_factory.mktemp("versions") / "ws", CLASSES)
    ws = open_workspace(root)
    train(ws, tiny_config("r1"))
    v2 = curate(ws, CurateConfig(size=32, split=(0.6, 0.2, 0.2), seed=7, resplit=True, min_side=16)).version
    train(ws, tiny_config("r2"))
    with ws.catalog() as catalog:
        catalog.execute("UPDATE runs SET val_accuracy = 1.0 WHERE id = 'r1'")
    return ws, v2


def copy_of(ws, dest: Path):
    shutil.copytree(ws.root, dest, symlinks=True)
    return open_workspace(dest)


def test_runs_record_their_version_and_best_means_best_on_the_current_one(two_versions) -> None:
    from training.selection import choose_run

    ws, v2 = two_versions
    with ws.catalog() as catalog:
        versions = {r["id"]: r["dataset_version"] for r in catalog.all("SELECT id, dataset_version FROM runs")}
    assert versions["r2"] == v2 and versions["r1"] not in (None, v2)
    assert json.loads((ws.models_dir / "r2" / "metrics.json").read_text())["dataset_version"] == v2
    choice = choose_run(ws)
    assert choice.run_id == "r2", "a run on older data never wins on its val accuracy"
    assert f"current dataset version {v2}" in choice.reason and not choice.stale


def test_scoring_a_run_on_another_version_names_the_test_images_it_trained_on(two_versions) -> None:
    from training.data import run_images, split_images
    from training.evaluate import evaluate

    ws, v2 = two_versions
    result = evaluate(ws, "r1")
    assert result.reason == "asked for with --run"
    assert any(f"the workspace is now at {v2}" in n for n in result.notes), result.notes
    seen = run_images(ws.models_dir / "r1")
    test_ids = {i.id for i in split_images(ws, CLASSES, "test")}
    leaked = sorted(test_ids & set(seen))
    assert leaked, "after a resplit some test images were r1's training images"
    note = next(n for n in result.notes if "test images were in run r1's training data" in n)
    assert note.startswith(f"{len(leaked)} of the {len(test_ids)} test images")
    assert all(image_id in note for image_id in leaked[:10])
    assert not evaluate(ws, "r2").notes, "a run on the current version is scored without warnings"


def test_evaluate_and_predict_say_which_run_and_why(two_versions, run_cli, tmp_path: Path) -> None:
    ws, v2 = two_versions
    run = run_cli("evaluate", ws.root)
    assert run.returncode == 0, run.stderr
    assert f"run r2: best val accuracy" in run.stdout and f"current dataset version {v2}" in run.stdout
    image = next((ws.root / "raw").rglob("*.jpg"))
    run = run_cli("predict", ws.root, image, "--json")
    assert run.returncode == 0 and "using run r2: best val accuracy" in run.stderr
    assert json.loads(run.stdout.splitlines()[0])["top"], "stdout stays JSON"


def test_an_unknown_run_lists_the_runs_that_exist(two_versions) -> None:
    from training.evaluate import evaluate

    with pytest.raises(TrainingError, match=r"no run named 'nonexistent' .*; runs: r1, r2"):
        evaluate(two_versions[0], "nonexistent")


def test_a_missing_run_folder_is_skipped_and_the_other_runs_count(two_versions, tmp_path: Path) -> None:
    from training.selection import choose_run

    ws = copy_of(two_versions[0], tmp_path / "ws")
    shutil.rmtree(ws.models_dir / "r2")
    choice = choose_run(ws)
    assert choice.run_id == "r1" and "no run was trained on the current dataset version" in choice.reason
    assert any("run r2 skipped" in n for n in choice.notes)


def test_a_new_class_makes_old_runs_unfit_for_the_workspace(two_versions, tmp_path: Path) -> None:
    from curation.pipeline import CurateConfig, curate
    from training.selection import choose_run
    from workspace.importer import import_labelled

    ws = copy_of(two_versions[0], tmp_path / "ws")
    import_labelled(ws, make_photos(tmp_path / "more", ["sunflowers"], 20), add_classes=True)
    curate(ws, CurateConfig(size=32, split=(0.6, 0.2, 0.2), min_side=16))
    with pytest.raises(TrainingError, match=r"no trained run has the current classes \(daisy, roses, tulips, sunflowers\)"):
        choose_run(ws)


def test_run_loading_errors_are_one_line_naming_the_file(two_versions, tmp_path: Path) -> None:
    from training.predict import load_bundle

    ws = copy_of(two_versions[0], tmp_path / "ws")
    spec_path = ws.models_dir / "r2" / "classes.json"
    spec = json.loads(spec_path.read_text())
    spec_path.write_text("{not json")
    with pytest.raises(TrainingError, match=r"classes.json is not valid JSON"):
        load_bundle(ws.models_dir / "r2")
    spec_path.write_text(json.dumps({k: v for k, v in spec.items() if k != "class_names"}))
    with pytest.raises(TrainingError, match=r"classes.json has no 'class_names' key"):
        load_bundle(ws.models_dir / "r2")
    spec_path.write_text(json.dumps({**spec, "class_names": ["daisy", "roses"]}))
    with pytest.raises(TrainingError, match=r"names 2 classes but .*model.keras outputs 3"):
        load_bundle(ws.models_dir / "r2")


def test_training_needs_two_classes_each_with_train_and_val(two_versions, tmp_path: Path) -> None:
    from training.train import train

    ws = copy_of(two_versions[0], tmp_path / "ws")
    with ws.catalog() as catalog:
        catalog.execute("UPDATE images SET split = 'train' WHERE class = 'tulips' AND split = 'val'")
    with pytest.raises(TrainingError, match=r"short: tulips \(train \d+, val 0\)"):
        train(ws, tiny_config("short"))
    assert not (ws.models_dir / "short").exists()
    raw = json.loads(ws.config_path.read_text())
    raw["classes"] = {"daisy": raw["classes"]["daisy"]}
    ws.config_path.write_text(json.dumps(raw))
    with pytest.raises(TrainingError, match=r"at least 2 classes; harvest.json has 1: daisy"):
        train(ws, tiny_config("one"))


def test_a_failed_train_leaves_no_run_folder(two_versions, tmp_path: Path) -> None:
    from training.train import TrainConfig, train

    ws, _ = two_versions
    with pytest.raises(TrainingError, match="weights file not found"):
        train(ws, TrainConfig(model="mobilenetv2", weights=str(tmp_path / "nope.weights.h5"), image_size=32,
                              epochs=1, run_id="broken"))
    assert not (ws.models_dir / "broken").exists()


def test_train_section_of_harvest_json_applies(tmp_path: Path, run_cli) -> None:
    root = build_curated(tmp_path / "ws", ["daisy", "roses"], per_class=8)
    raw = json.loads((root / "harvest.json").read_text())
    raw["train"] = {"model": "small-cnn", "image_size": 24, "epochs": 1, "batch_size": 8}
    (root / "harvest.json").write_text(json.dumps(raw))
    run = run_cli("train", root, "--run-id", "filed", "--quiet")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "", "--quiet after the command silences train"
    config = json.loads((root / "models" / "filed" / "config.json").read_text())
    assert (config["model"], config["image_size"], config["epochs"]) == ("small-cnn", 24, 1)


def test_error_lines_drop_terminal_colours(capsys) -> None:
    import cli

    cli.error_line("cannot load \x1b[1mmodel.keras\x1b[0m: \x1b[31mbad\x1b[0m")
    err = capsys.readouterr().err
    assert "\x1b[1m" not in err and "\x1b[31m" not in err and "cannot load model.keras: bad" in err
    assert cli.global_flags_first(["curate", "W", "--quiet", "--", "--debug"]) == ["--quiet", "curate", "W", "--",
                                                                                  "--debug"]
