"""Issue 19, point 4: harvest.json is checked strictly once, every message names its key path, the
file's stage sections apply whenever a flag is not given, and `status` validates the file too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_jpeg
from workspace.config import build_stage_config, config_from_json
from workspace.errors import ConfigError
from workspace.layout import init_workspace


def bad(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_json(raw, source="harvest.json")
    return str(info.value)


@pytest.mark.parametrize("raw, expected", [
    ({"classes": {"daisy": {"queries": "daisy flower"}}},
     "classes.daisy.queries must be a list"),
    ({"classes": {"daisy": {"queries": ["daisy", 3]}}}, "classes.daisy.queries[1] must be a non-empty string"),
    ({"classes": {"daisy": {"target": 12.5}}}, "classes.daisy.target must be a whole number, got a number 12.5"),
    ({"classes": {"daisy": {"colour": "white"}}}, "classes.daisy: unknown key 'colour'"),
    ({"classes": {"a": {}}, "engines": "bing"}, 'engines must be a list, e.g. ["bing", "duckduckgo"], got a string'),
    ({"classes": {"a": {}}, "split": "0.8,0.1,0.1"}, "split must be a list, e.g. [0.8, 0.1, 0.1], got a string"),
    ({"classes": {"a": {}}, "split": [float("nan"), 0, 0]}, "split[0] must be a finite number"),
    ({"classes": {"a": {}}, "split": [float("inf"), 0, 0]}, "split[0] must be a finite number"),
    ({"classes": {"a": {}}, "seed": 7.5}, "seed must be a whole number, got a number 7.5"),
    ({"classes": {"a": {}}, "image_size": True}, "image_size must be a whole number"),
    ({"classes": {"a": {}}, "trian": {"epochs": 1}}, "unknown key 'trian'"),
    ({"classes": {"a": {}}, "train": 3}, "train must be an object of settings"),
])
def test_config_types_are_strict_and_messages_name_the_key(raw: dict, expected: str) -> None:
    message = bad(raw)
    assert message.startswith("harvest.json: ") and expected in message, message


def test_stage_sections_are_checked_with_key_paths() -> None:
    from curation.pipeline import CurateConfig
    from training.train import TrainConfig

    with pytest.raises(ConfigError, match=r"unknown key 'train.epoch'; train settings: .*epochs"):
        build_stage_config(TrainConfig, {"epoch": 1}, {}, section="train")
    with pytest.raises(ConfigError, match=r"train.image_size must be a whole number, got a number 48.5"):
        build_stage_config(TrainConfig, {"image_size": 48.5}, {}, section="train")
    with pytest.raises(ConfigError, match=r"curate.threshold: --threshold must be between 0 and 32"):
        build_stage_config(CurateConfig, {"threshold": 40}, {}, section="curate")
    with pytest.raises(ConfigError, match=r"curate.reject_flags must be a list"):
        build_stage_config(CurateConfig, {"reject_flags": "blurry"}, {}, section="curate")


def test_file_section_applies_when_a_flag_is_not_given() -> None:
    from crawler.crawl import CrawlConfig
    from training.train import TrainConfig

    config = build_stage_config(TrainConfig, {"image_size": 48, "epochs": 1}, {"image_size": None, "epochs": None},
                                section="train")
    assert (config.image_size, config.epochs) == (48, 1)
    assert build_stage_config(TrainConfig, {"epochs": 1}, {"epochs": 4}, section="train").epochs == 4
    assert build_stage_config(CrawlConfig, {"workers": 3}, {"workers": None}, section="crawl").workers == 3
    with pytest.raises(ConfigError, match="unknown key 'crawl.browser'"):
        build_stage_config(CrawlConfig, {"browser": "firefox"}, {}, section="crawl")


def test_status_validates_the_file(tmp_path: Path, run_cli) -> None:
    ws = init_workspace(tmp_path / "ws", ["daisy", "roses"]).workspace
    raw = json.loads(ws.config_path.read_text())
    raw["classes"]["daisy"]["queries"] = "daisy flower"
    ws.config_path.write_text(json.dumps(raw))
    status = run_cli("status", ws.root)
    assert status.returncode == 1 and "classes.daisy.queries must be a list" in status.stderr
    raw["classes"]["daisy"]["queries"] = ["daisy flower"]
    raw["curate"] = {"size": 32.5}
    ws.config_path.write_text(json.dumps(raw))
    status = run_cli("status", ws.root)
    assert status.returncode == 1 and "curate.size must be a whole number" in status.stderr


def test_curate_section_applies_and_a_nan_split_is_refused(tmp_path: Path, run_cli) -> None:
    refused = run_cli("init", tmp_path / "nan", "--classes", "a,b", "--split", "nan,0,0")
    assert refused.returncode == 1 and "finite" in refused.stderr
    assert not (tmp_path / "nan" / "harvest.json").exists()
    ws = init_workspace(tmp_path / "ws", ["a", "b"]).workspace
    for i in range(4):
        make_jpeg(tmp_path / "src" / ("a" if i % 2 else "b") / f"{i}.jpg", (i * 50, 90, 200), (80, 60), pattern=i)
    assert run_cli("import", ws.root, tmp_path / "src").returncode == 0
    raw = json.loads(ws.config_path.read_text())
    raw["curate"] = {"size": 40}
    ws.config_path.write_text(json.dumps(raw))
    assert run_cli("curate", ws.root).returncode == 0
    from PIL import Image

    with Image.open(next(ws.curated_dir.rglob("*.jpg"))) as image:
        assert image.size == (40, 40)
