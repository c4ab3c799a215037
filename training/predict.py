"""`predict`: load a run's model in Keras safe mode and rank classes for images or folders."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.errors import TrainingError
from training.features import FeatureSpec
from training.preprocess import InputSpec
from training.scoring import score_files
from training.tf_setup import quiet_tensorflow

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class ModelBundle:
    model: object
    class_names: list[str]
    image_size: int
    channels: int
    run_dir: Path
    input: InputSpec
    features: FeatureSpec | None = None     # set when the backbone is frozen: the cache to read


@dataclass(frozen=True)
class Prediction:
    path: Path
    top: list[tuple[str, float]]
    error: str | None = None


def resolve_run_dir(model_path: Path) -> Path:
    """A run folder as given, or a workspace's best run by validation accuracy."""
    if (model_path / "model.keras").is_file():
        return model_path
    if (model_path / "catalog.sqlite").is_file():
        from workspace.layout import open_workspace

        ws = open_workspace(model_path)
        with ws.catalog() as catalog:
            row = catalog.one("SELECT path FROM runs ORDER BY COALESCE(val_accuracy, -1) DESC, created_at DESC LIMIT 1")
        if row is None or not (ws.root / row["path"] / "model.keras").is_file():
            raise TrainingError(f"{model_path} has no trained model yet: run `python cli.py train {model_path}`")
        return ws.root / row["path"]
    raise TrainingError(f"{model_path} is neither a run folder (with model.keras) nor a workspace")


def load_bundle(model_path: Path) -> ModelBundle:
    """The model and its input spec. Safe mode: a model file cannot run arbitrary code."""
    quiet_tensorflow()
    import keras

    import training.efficientnet_lite  # noqa: F401 - registers Harvest's own layers for deserialisation
    import training.models

    training.models._layers()
    run_dir = resolve_run_dir(Path(model_path))
    try:
        spec = json.loads((run_dir / "classes.json").read_text())
        model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    except FileNotFoundError as exc:
        raise TrainingError(f"{run_dir} is missing {Path(exc.filename).name}") from None
    except (ValueError, TypeError, OSError) as exc:
        raise TrainingError(f"cannot load {run_dir / 'model.keras'} in safe mode: {str(exc).splitlines()[0][:200]}") from None
    size, channels = int(spec["image_size"]), int(spec["channels"])
    # runs written before the input spec was saved were fed bilinear centre crops
    input_spec = InputSpec.from_dict(spec["input"]) if isinstance(spec.get("input"), dict) else \
        InputSpec(size, channels, "center-crop", "bilinear")
    features = FeatureSpec.from_dict(spec["features"]) if isinstance(spec.get("features"), dict) else None
    return ModelBundle(model, list(spec["class_names"]), size, channels, run_dir, input_spec, features)


def expand_inputs(items: list[Path]) -> list[Path]:
    """Files as given, folders expanded to their image files (sorted, any depth)."""
    out: list[Path] = []
    for item in items:
        if item.is_dir():
            out.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(item)
    return out


def predict_probabilities(bundle: ModelBundle, paths: list[Path], batch_size: int = 64) -> tuple[np.ndarray, dict[int, str]]:
    """(n, classes) probabilities (rows of unreadable files are NaN) and {row: error}."""
    return score_files(bundle, paths, batch_size)


def predict_files(bundle: ModelBundle, paths: list[Path], top_k: int = 3) -> list[Prediction]:
    probs, errors = predict_probabilities(bundle, paths)
    k = max(1, min(top_k, len(bundle.class_names)))
    out = []
    for row, path in enumerate(paths):
        if row in errors:
            out.append(Prediction(path, [], errors[row]))
            continue
        order = np.argsort(-probs[row])[:k]
        out.append(Prediction(path, [(bundle.class_names[i], float(probs[row, i])) for i in order]))
    return out
