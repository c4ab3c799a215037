"""`train`: fit a model on the catalog's train/val splits with idiomatic Keras callbacks; one folder per run."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from training.data import (LabelledImage, load_pixels, pixel_dataset, require_split, require_trainable, split_images,
                           write_run_images)
from training.errors import TrainingError
from training.features import FeatureSpec, cached_features, frozen_feature_spec
from training.head import HeadData, HeadSettings, copy_head, fit_head, head_probabilities
from training.models import (DEFAULT_MODEL, MODELS, ModelSpec, build_model, default_image_size, default_weights,
                             unfreeze_top)
from training.preprocess import InputSpec
from training.resume import (backup_epochs, check_same_run, finished_metrics, finished_stage, history_epochs,
                             keep_history, mark_stage_finished, requested_epochs)
from training.scoring import extractor_of
from training.tf_setup import quiet_tensorflow
from workspace.catalog import utc_now
from workspace.dataset import require_finished_curate
from workspace.layout import Workspace
from workspace.progress import Progress

log = logging.getLogger(__name__)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainConfig:
    """Empty weights and a zero image size mean the model's own defaults (see training.models)."""

    model: str = DEFAULT_MODEL
    weights: str = ""
    image_size: int = 0
    epochs: int = 30
    batch_size: int = 32
    grayscale: bool = False
    fine_tune: bool = False
    fine_tune_epochs: int = 10
    seed: int = 1337
    patience: int = 5
    learning_rate: float = 1e-3
    augment: bool = True
    round: int | None = None
    run_id: str | None = None
    dropout: float = 0.3

    @property
    def frozen_features(self) -> bool:
        """A pretrained frozen backbone: train the head on cached features."""
        return self.model != "small-cnn" and self.weights != "none" and not self.fine_tune

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise TrainingError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if not self.weights:
            object.__setattr__(self, "weights", default_weights(self.model))
        if not self.image_size:
            object.__setattr__(self, "image_size", default_image_size(self.model))
        if not 16 <= self.image_size <= 1024:
            raise TrainingError(f"--image-size must be between 16 and 1024, got {self.image_size}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise TrainingError(f"--epochs, --batch-size and patience must be >= 1, got "
                                f"{self.epochs}, {self.batch_size}, {self.patience}")
        if self.run_id is not None and (not self.run_id or "/" in self.run_id or self.run_id.startswith(".")):
            raise TrainingError(f"--run-id must be a plain folder name, got {self.run_id!r}")


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    run_dir: Path
    val_accuracy: float
    val_loss: float
    epochs_run: int
    class_names: list[str]
    train_images: int
    seconds: float
    already_trained: bool = False  # a finished run asked for no more epochs: nothing was changed


def new_run_id(config: TrainConfig) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    suffix = f"-round{config.round}" if config.round is not None else ""
    return f"{stamp}-{config.model}{suffix}"


def set_determinism(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except (AttributeError, RuntimeError):  # not available / already initialised
        log.debug("op determinism not enabled")


def train(ws: Workspace, config: TrainConfig, on_epoch: EpochCallback | None = None,
          progress: Progress | None = None,
          data: tuple[list[LabelledImage], list[LabelledImage]] | None = None) -> TrainResult:
    """Fit the configured model on the catalog's train split (or the given train/val images, for
    baselines), pick the best epoch on val, and write the run folder. `progress(done, total)`
    reports feature extraction. A `run_id` that names an existing run resumes it (`training.resume`)."""
    class_names = ws.config().class_names
    with ws.catalog() as catalog:
        state = require_finished_curate(ws, catalog)
    run_id = config.run_id or new_run_id(config)
    run_dir = ws.models_dir / run_id
    check_same_run(run_dir, asdict(config))
    previous = finished_metrics(run_dir)
    if previous is not None and config.epochs <= requested_epochs(previous):
        log.info("run %s already trained for %d epochs; nothing changed", run_id, previous["epochs_run"])
        return _result_of(run_id, run_dir, previous, class_names)
    if previous is not None and config.fine_tune:
        raise TrainingError(f"run {run_id!r} is a finished fine-tuned run and cannot be given more epochs; "
                            f"pick another --run-id")
    quiet_tensorflow()
    set_determinism(config.seed)
    train_images, val_images = data or (split_images(ws, class_names, "train"), split_images(ws, class_names, "val"))
    require_split(train_images, "train", class_names)
    require_split(val_images, "val", class_names)
    require_trainable(train_images, val_images, class_names)
    # a run given its own data (a baseline) did not train on a dataset version
    version = state.version.version if state.version and data is None else None
    created = not run_dir.exists()
    try:
        return _fit_and_save(ws, config, run_id, run_dir, class_names, (train_images, val_images), version,
                             on_epoch, progress, previous)
    except Exception:
        if created:  # a failed new run leaves nothing half-made (a killed one keeps its backup to resume)
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _fit_and_save(ws: Workspace, config: TrainConfig, run_id: str, run_dir: Path, class_names: list[str],
                  data: tuple[list[LabelledImage], list[LabelledImage]], version: str | None,
                  on_epoch: EpochCallback | None, progress: Progress | None, previous: dict | None) -> TrainResult:
    train_images, val_images = data
    channels = 1 if config.grayscale else 3
    input_spec = InputSpec(config.image_size, channels)
    spec = ModelSpec(config.model, len(class_names), config.image_size, channels, config.weights, config.augment,
                     config.dropout)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    model = build_model(spec, seed=config.seed)
    started = time.monotonic()
    if config.frozen_features:
        feature_spec = frozen_feature_spec(spec, model, input_spec)
        val_loss, val_accuracy, used, extra = _train_head(ws, model, feature_spec, train_images, val_images, run_dir,
                                                          config, on_epoch, progress, previous)
    else:
        feature_spec, extra = None, {}
        val_loss, val_accuracy, used = _train_pixels(model, train_images, val_images, input_spec, run_dir, config,
                                                     on_epoch)
    seconds = time.monotonic() - started
    model.save(run_dir / "model.keras")
    _write_run_files(run_dir, class_names, config, channels, input_spec, feature_spec)
    write_run_images(run_dir, train_images + val_images)
    full_history = _read_history(run_dir / "history.csv")
    from training.plots import plot_curves

    plot_curves(full_history, run_dir / "curves.png")
    epochs_run = len(full_history.get("loss", []))
    metrics = {"val_accuracy": float(val_accuracy), "val_loss": float(val_loss), "epochs_run": epochs_run,
               "train_images": used, "val_images": len(val_images), "seconds": round(seconds, 1),
               "images_per_second": round(used * max(1, epochs_run) / max(seconds, 1e-6), 1),
               "epochs_requested": config.epochs, "frozen_features": config.frozen_features,
               "dataset_version": version, **extra}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _record_run(ws, run_id, run_dir, config, metrics)
    return TrainResult(run_id, run_dir, float(val_accuracy), float(val_loss), epochs_run, class_names, used, seconds)


def _result_of(run_id: str, run_dir: Path, metrics: dict, class_names: list[str]) -> TrainResult:
    return TrainResult(run_id, run_dir, float(metrics["val_accuracy"]), float(metrics["val_loss"]),
                       int(metrics["epochs_run"]), class_names, int(metrics.get("train_images", 0)), 0.0,
                       already_trained=True)


def _head_data(ws: Workspace, spec: FeatureSpec, images: list[LabelledImage], extractor,
               progress: Progress | None) -> tuple[HeadData, int]:
    """The images' cached features (and how many had to be computed now)."""
    found = cached_features(ws, spec, [(i.sha256, i.path) for i in images], extractor, progress)
    ok = [row for row in range(len(images)) if row not in found.errors]
    for row, message in found.errors.items():
        log.warning("left out of training: %s: %s", images[row].path.name, message)
    labels = np.array([images[r].label for r in ok], dtype=np.int32)
    return HeadData(found.plain[ok], found.mirror[ok], labels), found.computed


def _train_head(ws: Workspace, model, spec: FeatureSpec, train_images: list[LabelledImage],
                val_images: list[LabelledImage], run_dir: Path, config: TrainConfig,
                on_epoch: EpochCallback | None, progress: Progress | None,
                previous: dict | None) -> tuple[float, float, int, dict]:
    """Frozen backbone: features from the cache, the head fitted on them, copied into the model.
    A finished run given more epochs continues its saved head from the epochs it ran."""
    extractor = extractor_of(model)
    started = time.monotonic()
    train_data, computed = _head_data(ws, spec, train_images, extractor, progress)
    val_data, computed_val = _head_data(ws, spec, val_images, extractor, progress)
    feature_seconds = time.monotonic() - started
    computed += computed_val
    extra = {"features_computed": computed, "feature_seconds": round(feature_seconds, 1),
             "feature_images_per_second": round(computed / feature_seconds, 1) if computed else None}
    settings = HeadSettings(len(ws.config().class_names), config.epochs, config.batch_size, config.learning_rate,
                            config.patience, config.dropout, config.seed, config.augment)
    done, start = 0, None
    if previous is not None:
        done = int(previous["epochs_run"])
        model.load_weights(run_dir / "model.keras")
        start = model.get_layer("classes").get_weights()
    keep_history(run_dir, done)
    head, _ = fit_head(train_data, val_data, settings, run_dir, on_epoch, initial_epoch=done, start=start)
    copy_head(head, model)
    probs = head_probabilities(model, val_data.plain)
    truth = val_data.labels
    loss = float(-np.log(np.clip(probs[np.arange(len(truth)), truth], 1e-7, 1.0)).mean())
    return loss, float((probs.argmax(axis=1) == truth).mean()), len(train_data.labels), extra


def _train_pixels(model, train_images: list[LabelledImage], val_images: list[LabelledImage], spec: InputSpec,
                  run_dir: Path, config: TrainConfig, on_epoch: EpochCallback | None) -> tuple[float, float, int]:
    """From scratch, or a backbone being fine-tuned: pixels through the whole model."""
    train_x, train_y, bad = load_pixels(train_images, spec)
    val_x, val_y, bad_val = load_pixels(val_images, spec)
    for message in bad + bad_val:
        log.warning("left out of training: %s", message)
    train_ds = pixel_dataset(train_x, train_y, config.batch_size, shuffle=True, seed=config.seed)
    val_ds = pixel_dataset(val_x, val_y, config.batch_size)
    fine_tune = config.fine_tune and config.model != "small-cnn"
    # history.csv keeps the epochs some backup holds: the others will be run (again)
    keep_history(run_dir, max(backup_epochs(run_dir / f"backup-{stage}") for stage in ("train", "fine-tune")))
    # a fine-tuned run killed after its first stage: that stage only restores, it does not train on
    finished = finished_stage(run_dir, "train") if fine_tune else None
    _fit(model, train_ds, val_ds, run_dir, config, config.learning_rate, 0, finished or config.epochs, on_epoch)
    if fine_tune:
        first = finished or history_epochs(run_dir)  # the fine-tune epochs follow the first stage's
        mark_stage_finished(run_dir, "train", first)
        unfreeze_top(model)
        _fit(model, train_ds, val_ds, run_dir, config, config.learning_rate / 10, first,
             first + config.fine_tune_epochs, on_epoch, stage="fine-tune")
    val_loss, val_accuracy = model.evaluate(val_ds, verbose=0)
    return float(val_loss), float(val_accuracy), len(train_y)


def _fit(model, train_ds, val_ds, run_dir: Path, config: TrainConfig, learning_rate: float, initial_epoch: int,
         epochs: int, on_epoch: EpochCallback | None, stage: str = "train"):
    """One `model.fit` stage. Its BackupAndRestore folder is kept after training, so the same run
    resumes from it (weights, optimizer state, epoch) whether it was killed or asked for more epochs."""
    import keras

    # BackupAndRestore sets the epoch to start from on the model, where it would outlive this stage
    model._initial_epoch = None
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    callbacks = [
        # accuracy, not loss: on small, noisy validation sets the loss can be best at epoch 1
        # (an untrained, hedging model) while accuracy keeps improving for many epochs
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.patience,
                                      restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(run_dir / "checkpoint.keras", monitor="val_accuracy", mode="max",
                                        save_best_only=True),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        # after the CSVLogger: a kill between the two leaves a history row that keep_history cuts
        keras.callbacks.BackupAndRestore(str(run_dir / f"backup-{stage}"), delete_checkpoint=False,
                                         double_checkpoint=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(1, config.patience // 2)),
    ]
    if on_epoch:
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})))
    return model.fit(train_ds, validation_data=val_ds, initial_epoch=initial_epoch, epochs=epochs,
                     callbacks=callbacks, verbose=0)


def _write_run_files(run_dir: Path, class_names: list[str], config: TrainConfig, channels: int,
                     input_spec: InputSpec, feature_spec: FeatureSpec | None) -> None:
    """classes.json: everything needed to feed the model as it was trained (`training.preprocess`
    with this input spec; float32 pixels 0-255, scaling inside the model) and, for a frozen
    backbone, which embedding cache holds its features."""
    spec = {"class_names": class_names, "image_size": config.image_size, "channels": channels,
            "input": asdict(input_spec), "features": feature_spec.as_dict() if feature_spec else None,
            "model": config.model, "weights": config.weights}
    (run_dir / "classes.json").write_text(json.dumps(spec, indent=2) + "\n")


def _read_history(path: Path) -> dict[str, list[float]]:
    history: dict[str, list[float]] = {}
    if not path.exists():
        return history
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                if key != "epoch" and value not in (None, ""):
                    history.setdefault(key, []).append(float(value))
    return history


def _record_run(ws: Workspace, run_id: str, run_dir: Path, config: TrainConfig, metrics: dict) -> None:
    with ws.catalog() as catalog:
        catalog.execute(
            "INSERT INTO runs (id, model, round, path, val_accuracy, metrics, created_at, dataset_version)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET val_accuracy = excluded.val_accuracy,"
            " metrics = excluded.metrics, dataset_version = excluded.dataset_version",
            (run_id, config.model, config.round, ws.relative(run_dir), metrics["val_accuracy"],
             json.dumps(metrics), utc_now(), metrics.get("dataset_version")))
