"""Training the head of a frozen-backbone model on cached features, in seconds.

The head is what `models.attach_head` puts on the backbone (dropout, then the softmax layer
"classes"), trained here on pooled features instead of pixels. Its noise is that of the full
model's training: each epoch every example is seen as the picture or its mirror at random (the
features of both are cached), and dropout. The trained weights are copied into the full model,
so the saved `model.keras` maps pixels to probabilities by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EpochCallback = Callable[[int, dict[str, float]], None]
MIN_EPOCHS = 20


@dataclass(frozen=True)
class HeadData:
    plain: np.ndarray       # (n, dims) features of the picture
    mirror: np.ndarray      # (n, dims) features of its mirror
    labels: np.ndarray      # (n,) int


@dataclass(frozen=True)
class HeadSettings:
    num_classes: int
    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    dropout: float
    seed: int
    augment: bool = True


def build_head(dims: int, settings: HeadSettings):
    import keras

    inputs = keras.Input((dims,), name="pooled")
    x = keras.layers.Dropout(settings.dropout, seed=settings.seed)(inputs)
    outputs = keras.layers.Dense(settings.num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="head")


def head_dataset(data: HeadData, settings: HeadSettings, training: bool):
    """Batches of (features, label); in training each example is the picture or its mirror."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((data.plain, data.mirror, data.labels))
    if training:
        dataset = dataset.shuffle(len(data.labels), seed=settings.seed, reshuffle_each_iteration=True)
    flip = training and settings.augment

    def pick(plain, mirror, label):
        if not flip:
            return plain, label
        return tf.where(tf.random.uniform(()) < 0.5, mirror, plain), label

    return dataset.map(pick).batch(settings.batch_size).prefetch(tf.data.AUTOTUNE)


def fit_head(train: HeadData, val: HeadData, settings: HeadSettings, run_dir: Path | None,
             on_epoch: EpochCallback | None = None, initial_epoch: int = 0, start: list[np.ndarray] | None = None):
    """A trained head (best validation accuracy restored) and the Keras history; `start` (the
    "classes" weights of a run being continued) and `initial_epoch` continue an earlier fit."""
    import keras

    keras.utils.set_random_seed(settings.seed)
    head = build_head(train.plain.shape[1], settings)
    if start is not None:
        head.get_layer("classes").set_weights(start)
    head.compile(optimizer=keras.optimizers.Adam(settings.learning_rate), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy"])
    # validation loss, not accuracy: on a small validation split accuracy ties for many epochs and
    # the earliest tie is restored, an undertrained head (bench: 0.78-0.84 hold-out accuracy over
    # four seeds by accuracy, 0.83-0.84 by loss; BENCHMARKS.md)
    # and not before MIN_EPOCHS: a small, noisy (query-labelled) validation split can have its
    # lowest loss after a couple of epochs, long before the head has learnt the classes
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", mode="min", patience=settings.patience,
                                               restore_best_weights=True,
                                               start_from_epoch=min(MIN_EPOCHS, settings.epochs // 2))]
    if run_dir is not None:
        callbacks.append(keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True))
    if on_epoch:
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})))
    history = head.fit(head_dataset(train, settings, True), validation_data=head_dataset(val, settings, False),
                       epochs=settings.epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0)
    return head, history


def copy_head(head, model) -> None:
    """Put the trained head's weights into the full model's "classes" layer."""
    model.get_layer("classes").set_weights(head.get_layer("classes").get_weights())


def head_probabilities(model, features: np.ndarray) -> np.ndarray:
    """softmax(features @ W + b) with the model's "classes" layer: what the model itself computes
    from these features (dropout is off at inference)."""
    kernel, bias = model.get_layer("classes").get_weights()
    logits = features.astype(np.float64) @ kernel.astype(np.float64) + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
