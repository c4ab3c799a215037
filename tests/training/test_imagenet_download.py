"""--weights imagenet for keras.applications backbones: a stalled or failed download gives one line
that names efficientnet-lite0 (whose weights need no download), within the download timeout. Keras'
weight URL is pointed at a local misbehaving server; nothing here reaches the internet."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.fault_server import FaultServer
from training import models
from training.errors import TrainingError
from training.models import ModelSpec, make_backbone


@pytest.fixture
def keras_weights_from(monkeypatch, tmp_path: Path):
    """Send MobileNetV2's ImageNet download to `base` and keep keras' cache in tmp (no cached copy)."""
    from keras.src.applications import mobilenet_v2
    from keras.src.backend import config

    monkeypatch.setattr(config, "keras_home", lambda: str(tmp_path / "keras-home"))

    def point_at(base: str) -> None:
        monkeypatch.setattr(mobilenet_v2, "BASE_WEIGHT_PATH", base)

    return point_at


@pytest.mark.parametrize("route", ["/hang/", "/status/404/"])
def test_failed_download_names_efficientnet_lite0(keras_weights_from, monkeypatch, route: str) -> None:
    monkeypatch.setattr(models, "DOWNLOAD_TIMEOUT_S", 1.0)
    spec = ModelSpec("mobilenetv2", num_classes=3, image_size=32, channels=3, weights="imagenet")
    with FaultServer() as server:
        keras_weights_from(server.url(route) if route == "/hang/" else server.url("/status/"))
        started = time.monotonic()
        with pytest.raises(TrainingError, match=r"offline\?.*--model efficientnet-lite0") as raised:
            make_backbone(spec)
        assert time.monotonic() - started < 30  # the 1 s socket timeout fired; no hang
        assert sum(server.hits.values()) == 1
    assert "\n" not in str(raised.value)
