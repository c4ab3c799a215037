"""Model builders: a small CNN trained from scratch, and transfer models (a backbone named
"features" that maps pixels to one pooled vector, then a new head named "classes").
Augmentation and each backbone's preprocessing are layers inside the model, so a saved model takes
raw 0-255 pixels and loads in Keras safe mode (no Lambda layers). EfficientNet-Lite0 ships its
ImageNet weights in a pip package, so it is the one pretrained model that works offline."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from training.errors import TrainingError

MODELS = ("efficientnet-lite0", "small-cnn", "mobilenetv2", "efficientnetb0", "resnet50", "vgg16", "inceptionv3")
DEFAULT_MODEL = "efficientnet-lite0"
DOWNLOAD_TIMEOUT_S = 60.0  # per socket operation: a stalled ImageNet download fails instead of hanging
MIN_SIZE = {"inceptionv3": 75, "mobilenetv2": 32, "efficientnetb0": 32, "resnet50": 32, "vgg16": 32,
            "efficientnet-lite0": 32}
DEFAULT_SIZE = {"efficientnet-lite0": 224, "small-cnn": 128}


def default_weights(model: str) -> str:
    """Pretrained where that needs no download; the keras.applications backbones stay opt-in."""
    return "imagenet" if model == "efficientnet-lite0" else "none"


def default_image_size(model: str) -> int:
    return DEFAULT_SIZE.get(model, 224)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    num_classes: int
    image_size: int
    channels: int
    weights: str = "none"        # none | imagenet | PATH
    augment: bool = True
    dropout: float = 0.3


def _layers():
    import keras

    @keras.saving.register_keras_serializable(package="harvest")
    class CaffePreprocess(keras.layers.Layer):
        """VGG16/ResNet50 input: RGB→BGR and ImageNet mean subtraction (keras' 'caffe' mode)."""

        def call(self, inputs):
            bgr = keras.ops.flip(inputs, axis=-1)
            return bgr - keras.ops.convert_to_tensor([103.939, 116.779, 123.68], dtype=inputs.dtype)

    @keras.saving.register_keras_serializable(package="harvest")
    class GrayToRGB(keras.layers.Layer):
        """Repeat one channel three times so ImageNet backbones accept greyscale input."""

        def call(self, inputs):
            return keras.ops.concatenate([inputs, inputs, inputs], axis=-1)

    return CaffePreprocess, GrayToRGB


def augmentation(seed: int):
    import keras

    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.08, seed=seed),
        keras.layers.RandomZoom(0.1, seed=seed),
        keras.layers.RandomContrast(0.1, seed=seed),
    ], name="augmentation")


def build_model(spec: ModelSpec, seed: int = 1337):
    """A compiled-ready keras.Model taking (size, size, channels) float pixels in 0-255."""
    import keras

    if spec.name not in MODELS:
        raise TrainingError(f"unknown model {spec.name!r}; choose one of {', '.join(MODELS)}")
    if spec.name != "small-cnn" and spec.image_size < MIN_SIZE[spec.name]:
        raise TrainingError(f"{spec.name} needs --image-size >= {MIN_SIZE[spec.name]}, got {spec.image_size}")
    inputs = keras.Input((spec.image_size, spec.image_size, spec.channels), name="pixels")
    x = augmentation(seed)(inputs) if spec.augment else inputs
    if spec.name == "small-cnn":
        x = small_cnn_body(x)
    else:
        x = build_feature_extractor(spec)(x)
    return attach_head(inputs, x, spec, seed)


def attach_head(inputs, features, spec: ModelSpec, seed: int):
    """Dropout and the softmax layer "classes": the part a frozen-backbone run trains."""
    import keras

    x = keras.layers.Dropout(spec.dropout, seed=seed)(features)
    outputs = keras.layers.Dense(spec.num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=spec.name.replace("-", "_"))


def build_feature_extractor(spec: ModelSpec):
    """pixels (0-255) -> pooled vector, frozen, as one nested model named "features"."""
    import keras

    inputs = keras.Input((spec.image_size, spec.image_size, spec.channels), name="features_in")
    if spec.name == "efficientnet-lite0":
        from training.efficientnet_lite import build_lite0_backbone

        caffe, gray_to_rgb = _layers()
        x = gray_to_rgb()(inputs) if spec.channels == 1 else inputs
        backbone = build_lite0_backbone(spec.image_size, "none" if spec.weights in ("", "none") else spec.weights)
        backbone.trainable = False
        outputs = backbone(x, training=False)
    else:
        outputs = transfer_body(inputs, spec)
    return keras.Model(inputs, outputs, name="features")


def small_cnn_body(x):
    """Four conv blocks with batch norm, then global pooling: trains on a CPU in minutes."""
    import keras

    x = keras.layers.Rescaling(1.0 / 255)(x)
    for filters in (32, 64, 128, 192):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)  # small data: few steps per epoch
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    return keras.layers.GlobalAveragePooling2D()(x)


def transfer_body(x, spec: ModelSpec):
    import keras

    caffe, gray_to_rgb = _layers()
    if spec.channels == 1:
        x = gray_to_rgb()(x)
    if spec.name in ("mobilenetv2", "inceptionv3"):
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(x)
    elif spec.name in ("resnet50", "vgg16"):
        x = caffe()(x)
    # efficientnetb0 rescales inside the backbone
    backbone = make_backbone(spec)
    backbone.trainable = False
    x = backbone(x, training=False)
    return keras.layers.GlobalAveragePooling2D()(x)


def make_backbone(spec: ModelSpec):
    import keras

    constructors = {
        "mobilenetv2": keras.applications.MobileNetV2, "efficientnetb0": keras.applications.EfficientNetB0,
        "resnet50": keras.applications.ResNet50, "vgg16": keras.applications.VGG16,
        "inceptionv3": keras.applications.InceptionV3,
    }
    shape = (spec.image_size, spec.image_size, 3)
    weights = None if spec.weights in ("none", "") else spec.weights
    if weights not in (None, "imagenet"):
        path = Path(weights)
        if not path.is_file():
            raise TrainingError(f"--weights file not found: {path}")
        weights = None
    try:
        with download_timeout(DOWNLOAD_TIMEOUT_S):
            backbone = constructors[spec.name](include_top=False, weights=weights, input_shape=shape)
    except (OSError, ValueError, Exception) as exc:  # noqa: BLE001 - keras raises many kinds here
        if spec.weights == "imagenet":
            raise TrainingError(
                f"could not download ImageNet weights for {spec.name} ({type(exc).__name__}; offline?): "
                "pass --weights PATH (a .weights.h5 of the backbone without its top) or --weights none, "
                "or use --model efficientnet-lite0, whose ImageNet weights come with pip (no download)"
            ) from None
        raise TrainingError(f"cannot build {spec.name}: {exc}") from None
    if spec.weights not in ("none", "", "imagenet"):
        try:
            backbone.load_weights(spec.weights)
        except (OSError, ValueError) as exc:
            raise TrainingError(f"--weights {spec.weights} does not fit {spec.name} at "
                                f"{spec.image_size}px without its top: {str(exc)[:160]}") from None
    backbone.name = "backbone"  # what unfreeze_top looks up (Keras 3 reads .name, not ._name)
    return backbone


@contextmanager
def download_timeout(seconds: float) -> Iterator[None]:
    """keras.utils.get_file calls urlretrieve, which has no timeout argument: give its sockets one
    for the duration of the call (unless the process already set its own default)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds if previous is None else previous)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def unfreeze_top(model, fraction: float = 0.3) -> int:
    """Make the top `fraction` of the backbone's layers trainable (batch norm stays frozen)."""
    import keras

    features = model.get_layer("features")
    features.trainable = True
    backbone = features.get_layer("backbone")
    backbone.trainable = True
    layers = backbone.layers
    cut = int(len(layers) * (1 - fraction))
    for layer in layers[:cut]:
        layer.trainable = False
    for layer in layers[cut:]:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return sum(1 for layer in layers if layer.trainable)


def weights_fingerprint(spec: ModelSpec) -> str | None:
    """What identifies the backbone's weights exactly (for the embedding cache key); None when
    they are random (weights none), which no cache may hold."""
    import hashlib

    import keras

    if spec.name == "small-cnn" or spec.weights in ("", "none"):
        return None
    if spec.weights == "imagenet":
        if spec.name == "efficientnet-lite0":
            from training.efficientnet_lite import lite0_weights_file

            return f"lite0-imagenet:{lite0_weights_file().name}"
        return f"keras-imagenet:{keras.__version__}"
    digest = hashlib.sha256()
    with open(spec.weights, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"
