"""`train`: fit a model on curated train/val with idiomatic Keras callbacks; one folder per run."""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from training.data import split_dataset
from training.errors import TrainingError
from training.tf_setup import quiet_tensorflow
from training.models import MODELS, ModelSpec, build_model, unfreeze_top
from workspace.catalog import utc_now
from workspace.layout import Workspace

log = logging.getLogger(__name__)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainConfig:
    model: str = "small-cnn"
    weights: str = "none"
    image_size: int = 128
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

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise TrainingError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
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


def train(ws: Workspace, config: TrainConfig, on_epoch: EpochCallback | None = None) -> TrainResult:
    quiet_tensorflow()
    import keras

    set_determinism(config.seed)
    class_names = ws.config().class_names
    channels = 1 if config.grayscale else 3
    train_ds, train_paths = split_dataset(ws.curated_dir, "train", class_names, config.image_size,
                                          config.batch_size, config.grayscale, shuffle=True, seed=config.seed)
    val_ds, _ = split_dataset(ws.curated_dir, "val", class_names, config.image_size, config.batch_size,
                              config.grayscale)
    run_id = config.run_id or new_run_id(config)
    run_dir = ws.models_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    model = build_model(ModelSpec(config.model, len(class_names), config.image_size, channels, config.weights,
                                  config.augment), seed=config.seed)
    started = time.monotonic()
    history = _fit(model, train_ds, val_ds, run_dir, config, config.learning_rate, config.epochs, on_epoch)
    if config.fine_tune and config.model != "small-cnn":
        unfreeze_top(model)
        history = _fit(model, train_ds, val_ds, run_dir, config, config.learning_rate / 10,
                       config.fine_tune_epochs, on_epoch, stage="fine-tune")
    seconds = time.monotonic() - started
    val_loss, val_accuracy = model.evaluate(val_ds, verbose=0)
    model.save(run_dir / "model.keras")
    _write_run_files(run_dir, class_names, config, channels)
    full_history = _read_history(run_dir / "history.csv")
    from training.plots import plot_curves

    plot_curves(full_history, run_dir / "curves.png")
    metrics = {"val_accuracy": float(val_accuracy), "val_loss": float(val_loss),
               "epochs_run": len(full_history.get("loss", [])), "train_images": len(train_paths),
               "seconds": round(seconds, 1), "images_per_second": round(
                   len(train_paths) * max(1, len(full_history.get("loss", []))) / max(seconds, 1e-6), 1)}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _record_run(ws, run_id, run_dir, config, metrics)
    return TrainResult(run_id, run_dir, float(val_accuracy), float(val_loss), metrics["epochs_run"],
                       class_names, len(train_paths), seconds)


def _fit(model, train_ds, val_ds, run_dir: Path, config: TrainConfig, learning_rate: float, epochs: int,
         on_epoch: EpochCallback | None, stage: str = "train"):
    import keras

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
        keras.callbacks.BackupAndRestore(str(run_dir / f"backup-{stage}")),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(1, config.patience // 2)),
    ]
    if on_epoch:
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})))
    return model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, verbose=0)


def _write_run_files(run_dir: Path, class_names: list[str], config: TrainConfig, channels: int) -> None:
    spec = {"class_names": class_names, "image_size": config.image_size, "channels": channels,
            "input": "float32 pixels 0-255, RGB (or 1 channel when grayscale), preprocessing inside the model",
            "model": config.model}
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
            "INSERT INTO runs (id, model, round, path, val_accuracy, metrics, created_at) VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT(id) DO UPDATE SET val_accuracy = excluded.val_accuracy, metrics = excluded.metrics",
            (run_id, config.model, config.round, ws.relative(run_dir), metrics["val_accuracy"],
             json.dumps(metrics), utc_now()))
