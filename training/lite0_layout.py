"""EfficientNet-Lite0 as data: its stages and blocks, and where each tensor of the PyTorch
checkpoint (lukemelas naming, ported from TensorFlow) goes in the Keras network. No Keras here,
so a checkpoint can be checked against the layout before any network is built."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.torch_legacy import CheckpointError

LITE0_FEATURES = 1280
STEM_FILTERS = 32
IMAGENET_CLASSES = 1000
# (repeats, kernel, stride, expand ratio, output channels) per stage
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
BN_FIELDS = ("weight", "bias", "running_mean", "running_var")  # = gamma, beta, moving mean/variance


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


@dataclass(frozen=True)
class LayerWeights:
    """One Keras layer's weights in the checkpoint: `shape` is torch's (conv: out, in, kh, kw)."""
    layer: str
    kind: str      # conv | depthwise | bn
    prefix: str
    shape: tuple[int, ...]

    def keys(self) -> list[str]:
        return [f"{self.prefix}.{f}" for f in BN_FIELDS] if self.kind == "bn" else [f"{self.prefix}.weight"]

    def keras_weights(self, state: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays = [state[key] for key in self.keys()]
        if self.kind == "conv":        # torch (out, in, kh, kw) → keras (kh, kw, in, out)
            return [arrays[0].transpose(2, 3, 1, 0)]
        if self.kind == "depthwise":   # torch (channels, 1, kh, kw) → keras (kh, kw, channels, 1)
            return [arrays[0].transpose(2, 3, 0, 1)]
        return arrays


def block_specs() -> list[BlockSpec]:
    """The 16 MBConv blocks: a stage's first block strides and changes width, the rest repeat it."""
    specs, channels = [], STEM_FILTERS
    for repeats, kernel, stride, expand, out in STAGES:
        for r in range(repeats):
            specs.append(BlockSpec(len(specs), kernel, stride if r == 0 else 1, expand, channels, out))
            channels = out
    return specs


def checkpoint_layout() -> list[LayerWeights]:
    """Every weighted Keras layer with its checkpoint tensors, in checkpoint order."""
    rows = [LayerWeights("stem_conv", "conv", "_conv_stem", (STEM_FILTERS, 3, 3, 3)),
            LayerWeights("stem_bn", "bn", "_bn0", (STEM_FILTERS,))]
    for spec in block_specs():
        name, prefix = f"block{spec.index}", f"_blocks.{spec.index}"
        wide = spec.channels_in * spec.expand
        if spec.expand != 1:
            rows += [LayerWeights(f"{name}_expand_conv", "conv", f"{prefix}._expand_conv",
                                  (wide, spec.channels_in, 1, 1)),
                     LayerWeights(f"{name}_expand_bn", "bn", f"{prefix}._bn0", (wide,))]
        rows += [LayerWeights(f"{name}_dw_conv", "depthwise", f"{prefix}._depthwise_conv",
                              (wide, 1, spec.kernel, spec.kernel)),
                 LayerWeights(f"{name}_dw_bn", "bn", f"{prefix}._bn1", (wide,)),
                 LayerWeights(f"{name}_project_conv", "conv", f"{prefix}._project_conv",
                              (spec.channels_out, wide, 1, 1)),
                 LayerWeights(f"{name}_project_bn", "bn", f"{prefix}._bn2", (spec.channels_out,))]
    last = block_specs()[-1].channels_out
    return rows + [LayerWeights("head_conv", "conv", "_conv_head", (LITE0_FEATURES, last, 1, 1)),
                   LayerWeights("head_bn", "bn", "_bn1", (LITE0_FEATURES,))]


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Checkpoint key → torch shape for the backbone and the ImageNet classifier `_fc`."""
    shapes = {key: row.shape for row in checkpoint_layout() for key in row.keys()}
    shapes["_fc.weight"] = (IMAGENET_CLASSES, LITE0_FEATURES)
    shapes["_fc.bias"] = (IMAGENET_CLASSES,)
    return shapes


def check_state_dict(state: dict[str, np.ndarray]) -> None:
    """Raise naming the first key or shape that does not fit (num_batches_tracked may come and go)."""
    expected = expected_shapes()
    for key, array in state.items():
        if key.endswith(".num_batches_tracked"):
            continue
        if key not in expected:
            raise CheckpointError(f"checkpoint does not fit efficientnet-lite0: unexpected key {key} "
                                  f"(shape {tuple(array.shape)})")
        if tuple(array.shape) != expected[key]:
            raise CheckpointError(f"checkpoint does not fit efficientnet-lite0: {key} expected shape "
                                  f"{expected[key]}, got {tuple(array.shape)}")
    missing = next((key for key in expected if key not in state), None)
    if missing:
        raise CheckpointError(f"checkpoint does not fit efficientnet-lite0: missing key {missing} "
                              f"(expected shape {expected[missing]})")
