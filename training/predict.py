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
from training.selection import RunChoice, choose_run
from training.tf_setup import quiet_tensorflow
from workspace.imagecheck import IMAGE_SUFFIXES

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@dataclass(frozen=True)
class ModelBundle:
    model: object
    class_names: list[str]
    image_size: int
    channels: int
    run_dir: Path
    input: InputSpec
    features: FeatureSpec | None = None     # set when the backbone is frozen: the cache to read
    choice: RunChoice | None = None         # how a workspace's run was chosen (None: a run folder given)


@dataclass(frozen=True)
class Prediction:
    path: Path
    top: list[tuple[str, float]]
    error: str | None = None


def resolve_run(model_path: Path, run_id: str | None = None) -> RunChoice | Path:
    """A run folder as given, or the run a workspace chooses (`training.selection`)."""
    if run_id is None and (model_path / "model.keras").is_file():
        return model_path
    if (model_path / "catalog.sqlite").is_file():
        from workspace.layout import open_workspace

        return choose_run(open_workspace(model_path), run_id)
    raise TrainingError(f"{model_path} is neither a run folder (with model.keras) nor a workspace")


def load_bundle(model_path: Path, run_id: str | None = None) -> ModelBundle:
    """The model and its input spec. Safe mode: a model file cannot run arbitrary code."""
    quiet_tensorflow()
    import keras

    import training.efficientnet_lite  # noqa: F401 - registers Harvest's own layers for deserialisation
    import training.models

    training.models._layers()
    resolved = resolve_run(Path(model_path), run_id)
    choice = resolved if isinstance(resolved, RunChoice) else None
    run_dir = choice.run_dir if choice else resolved
    spec = read_classes_json(run_dir / "classes.json")
    model_file = run_dir / "model.keras"
    if not model_file.is_file():
        raise TrainingError(f"{model_file} is missing")
    try:
        model = keras.saving.load_model(model_file, safe_mode=True)
    except (ValueError, TypeError, OSError, KeyError) as exc:
        raise TrainingError(f"cannot load {model_file} in safe mode: {str(exc).splitlines()[0][:200]}") from None
    outputs = model.output_shape[-1] if isinstance(model.output_shape, tuple) else None
    if outputs is not None and outputs != len(spec["class_names"]):
        raise TrainingError(f"{run_dir / 'classes.json'} names {len(spec['class_names'])} classes but {model_file} "
                            f"outputs {outputs}: the two files are from different runs")
    size, channels = spec["image_size"], spec["channels"]
    # runs written before the input spec was saved were fed bilinear centre crops
    input_spec = InputSpec.from_dict(spec["input"]) if isinstance(spec.get("input"), dict) else \
        InputSpec(size, channels, "center-crop", "bilinear", version=1)
    features = FeatureSpec.from_dict(spec["features"]) if isinstance(spec.get("features"), dict) else None
    return ModelBundle(model, list(spec["class_names"]), size, channels, run_dir, input_spec, features, choice)


def read_classes_json(path: Path) -> dict:
    """A run's classes.json, checked: one line naming the file and what is wrong with it."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TrainingError(f"{path} is not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(spec, dict):
        raise TrainingError(f"{path} must hold an object, got {type(spec).__name__}")
    missing = [key for key in ("class_names", "image_size", "channels") if key not in spec]
    if missing:
        raise TrainingError(f"{path} has no {missing[0]!r} key")
    names = spec["class_names"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise TrainingError(f"{path}: class_names must be a non-empty list of names, got {names!r:.80}")
    for key in ("image_size", "channels"):
        if isinstance(spec[key], bool) or not isinstance(spec[key], int) or spec[key] < 1:
            raise TrainingError(f"{path}: {key} must be a positive whole number, got {spec[key]!r:.40}")
    return spec


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
