"""Import TensorFlow once, quietly: its C++ start-up banners (oneDNN, absl) go to the real stderr
before any Python logging setting can stop them, so stderr is muted for the import only."""

from __future__ import annotations

import os
import sys


def quiet_tensorflow() -> None:
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ logs; Python errors still raise
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
