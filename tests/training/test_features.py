"""The frozen EfficientNet-Lite0 path: embedding cache, one input path, same numbers everywhere."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import build_curated

pytestmark = pytest.mark.training
SIZE = 128


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from training.train import TrainConfig, train
    from workspace.layout import open_workspace

    root = build_curated(tmp_path_factory.mktemp("lite") / "ws", ["daisy", "roses", "tulips"])
    result = train(open_workspace(root), TrainConfig(image_size=SIZE, epochs=60, patience=10, batch_size=8,
                                                     run_id="lite"))
    return root, result.run_id


def test_default_model_is_pretrained_lite0_and_trains_its_head_on_cached_features(trained) -> None:
    root, run_id = trained
    run = root / "models" / run_id
    spec = json.loads((run / "classes.json").read_text())
    assert spec["model"] == "efficientnet-lite0" and spec["weights"] == "imagenet"
    assert spec["input"] == {"size": SIZE, "channels": 3, "mode": "center-crop", "resample": "bicubic", "version": 2}
    assert spec["features"]["dims"] == 1280 and spec["features"]["input"]["size"] == SIZE
    with sqlite3.connect(root / "catalog.sqlite") as conn:
        sets = conn.execute("SELECT key, path, images FROM feature_sets").fetchall()
        labelled = conn.execute("SELECT COUNT(*) FROM images WHERE status='accepted' AND split IN ('train','val')"
                                ).fetchone()[0]
    assert len(sets) == 1 and (root / sets[0][1]).is_file() and sets[0][2] == labelled
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["frozen_features"] is True and metrics["val_accuracy"] > 0.5  # 3 classes: chance is 0.33


def test_predict_gives_the_training_path_probabilities(trained) -> None:
    """A file through `predict` (whole model on pixels) and through the cache + head agree."""
    from training.data import split_images
    from training.predict import load_bundle, predict_probabilities
    from training.scoring import score_images
    from workspace.layout import open_workspace

    root, run_id = trained
    ws = open_workspace(root)
    bundle = load_bundle(ws.models_dir / run_id)
    images = split_images(ws, bundle.class_names, "test")[:6]
    via_cache, errors = score_images(ws, bundle, [(i.sha256, i.path) for i in images])
    via_file, file_errors = predict_probabilities(bundle, [i.path for i in images])
    assert not errors and not file_errors
    np.testing.assert_allclose(via_cache, via_file, atol=2e-5)
    assert np.allclose(via_file.sum(axis=1), 1.0, atol=1e-4)


def test_a_stale_or_corrupt_cache_is_never_trusted(trained, tmp_path: Path) -> None:
    from training.features import FeatureSpec, FeatureStore, cached_features
    from training.preprocess import InputSpec
    from workspace.layout import open_workspace

    root, _ = trained
    ws = open_workspace(root)
    photo = next((root / "raw").rglob("*.jpg"))
    calls = []

    def extractor(arrays: np.ndarray) -> np.ndarray:
        calls.append(len(arrays))
        return np.full((len(arrays), 4), float(arrays.shape[1]), dtype=np.float32)

    spec = FeatureSpec("toy", "w1", InputSpec(16), 4)
    first = cached_features(ws, spec, [("a" * 64, photo)], extractor)
    assert first.computed == 1 and first.plain[0, 0] == 16.0
    again = cached_features(ws, spec, [("a" * 64, photo)], extractor)
    assert again.computed == 0 and len(calls) == 1          # read from the cache
    other = FeatureSpec("toy", "w1", InputSpec(24), 4)       # another input size: another key
    assert cached_features(ws, other, [("a" * 64, photo)], extractor).plain[0, 0] == 24.0
    path = root / "features" / f"{spec.key()}.sqlite"
    store = FeatureStore(path, spec)
    store._conn.execute("UPDATE vectors SET plain = x'00'")  # a damaged vector
    store.close()
    assert cached_features(ws, spec, [("a" * 64, photo)], extractor).computed == 1
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)      # a corrupt file
    assert cached_features(ws, spec, [("a" * 64, photo)], extractor).plain[0, 0] == 16.0
    with sqlite3.connect(path) as conn:                      # a file claiming another spec
        conn.execute("UPDATE meta SET value = '{}' WHERE key = 'spec'")
    assert cached_features(ws, spec, [("a" * 64, photo)], extractor).computed == 1


def test_unreadable_images_are_reported_per_row(trained, tmp_path: Path) -> None:
    from training.features import FeatureSpec, cached_features
    from training.preprocess import InputSpec
    from workspace.layout import open_workspace

    root, _ = trained
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    found = cached_features(open_workspace(root), FeatureSpec("toy2", "w", InputSpec(16), 2),
                            [("b" * 64, bad)], lambda a: np.zeros((len(a), 2), np.float32))
    assert found.errors and "unreadable" in found.errors[0] and np.isnan(found.plain[0]).all()
