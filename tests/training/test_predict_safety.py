"""`predict` loads model files in Keras safe mode: a file carrying code is refused with one line.
No training here, so `make test-fast` runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_predict_refuses_a_model_file_with_code(tmp_path: Path) -> None:
    import keras

    from training.errors import TrainingError
    from training.predict import load_bundle

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    run = tmp_path / "evil"
    run.mkdir()
    keras.Model(inputs, outputs).save(run / "model.keras")
    (run / "classes.json").write_text(json.dumps({"class_names": ["a"], "image_size": 8, "channels": 3}))
    with pytest.raises(TrainingError) as refused:
        load_bundle(run)
    message = str(refused.value)
    assert message.startswith(f"cannot load {run / 'model.keras'} in safe mode: ")
    assert "`Lambda` layer" in message and "arbitrary code execution" in message
    assert "\n" not in message  # one line for the CLI


def test_predict_loads_the_same_model_without_code(tmp_path: Path) -> None:
    """The refusal above is about the Lambda, not about loading in general."""
    import keras

    from training.predict import load_bundle

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(1, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    run = tmp_path / "plain"
    run.mkdir()
    keras.Model(inputs, outputs).save(run / "model.keras")
    (run / "classes.json").write_text(json.dumps({"class_names": ["a"], "image_size": 8, "channels": 3}))
    bundle = load_bundle(run)
    assert bundle.class_names == ["a"] and bundle.run_dir == run
