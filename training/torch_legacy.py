"""Read a PyTorch state dict saved in the legacy (pre-zip) format into numpy arrays, without torch.

The file is a run of pickles (magic number, protocol version, system info, the state dict, the list
of storage keys) followed by each storage's raw bytes. A pickle is code, so every global it names
goes through an allowlist that maps the few names a state dict needs to our own builders; any other
global is refused before it can run."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from training.errors import TrainingError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}


class CheckpointError(TrainingError):
    """A checkpoint file cannot be read safely (not legacy torch, truncated, or names a refused global)."""


@dataclass(frozen=True)
class StorageType:
    """What a `torch.*Storage` name resolves to: only its element type."""
    name: str
    dtype: np.dtype


@dataclass(frozen=True)
class StorageRef:
    """A storage named by a persistent id; its bytes come after the pickles."""
    key: str
    dtype: np.dtype
    offset: int = 0   # elements, for old-style storage views


@dataclass(frozen=True)
class TensorRef:
    """What `torch._utils._rebuild_tensor_v2` builds: a strided view to take once storages are read."""
    storage: StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class StateDict(OrderedDict):
    """What `collections.OrderedDict` resolves to (torch sets `_metadata` on it, so it needs a __dict__)."""


def rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> TensorRef:
    """Our `_rebuild_tensor_v2`: checks its arguments are what a tensor needs, records the view."""
    if not isinstance(storage, StorageRef) or not _is_int(storage_offset) \
            or not _int_tuple(size) or not _int_tuple(stride) or len(size) != len(stride):
        raise CheckpointError("malformed tensor record in checkpoint")
    return TensorRef(storage, storage_offset, tuple(size), tuple(stride))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _int_tuple(value) -> bool:
    return isinstance(value, tuple) and all(_is_int(v) for v in value)


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): StateDict,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    **{("torch", name): StorageType(name, np.dtype(dtype)) for name, dtype in STORAGE_DTYPES.items()},
}


class AllowlistUnpickler(pickle.Unpickler):
    """Resolves only ALLOWED_GLOBALS; storages arrive as persistent ids and become StorageRefs."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"refused to load {module}.{name} from the checkpoint: only tensors and OrderedDict "
                "may appear in a weights file (a pickle naming other code is not run)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
                and isinstance(pid[1], StorageType) and isinstance(pid[2], str)):
            raise CheckpointError(f"unexpected persistent id in checkpoint: {str(pid)[:80]}")
        _, storage_type, key, _location, _numel, view = pid
        if view is None:
            return StorageRef(key, storage_type.dtype)
        base_key, view_offset, _view_size = view  # old-style view of another storage
        if not (isinstance(base_key, str) and _is_int(view_offset)):
            raise CheckpointError("malformed storage view in checkpoint")
        return StorageRef(base_key, storage_type.dtype, view_offset)


def read_legacy_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a legacy torch state dict, by name, as a C-contiguous numpy array."""
    try:
        with open(path, "rb") as stream:
            state = _read_pickles(stream)
            keys = _load(stream)
            if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
                raise CheckpointError("checkpoint's storage key list is malformed")
            storages = _read_storages(stream, keys, state)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    return {name: _materialize(name, ref, storages) for name, ref in state.items()}


def _load(stream: BinaryIO):
    try:
        return AllowlistUnpickler(stream).load()
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint is corrupt or truncated ({type(exc).__name__})") from None


def _read_pickles(stream: BinaryIO) -> dict:
    if _load(stream) != LEGACY_MAGIC:
        raise CheckpointError("not a legacy (pre-zip) torch checkpoint: wrong magic number")
    if _load(stream) != LEGACY_PROTOCOL:
        raise CheckpointError("unsupported legacy torch checkpoint protocol")
    info = _load(stream)
    if not isinstance(info, dict) or not info.get("little_endian", False):
        raise CheckpointError("checkpoint was saved big-endian or without system info")
    state = _load(stream)
    if not isinstance(state, dict) or not all(isinstance(v, TensorRef) for v in state.values()):
        raise CheckpointError("checkpoint is not a state dict of tensors")
    return state


def _read_storages(stream: BinaryIO, keys: list[str], state: dict) -> dict[str, np.ndarray]:
    dtypes = {ref.storage.key: ref.storage.dtype for ref in state.values()}
    file_size = os.fstat(stream.fileno()).st_size
    storages = {}
    for key in keys:
        dtype = dtypes.get(key, np.dtype("u1"))
        size = int.from_bytes(stream.read(8), "little") * dtype.itemsize
        if size > file_size - stream.tell():  # checked before reading: a bogus count must not allocate
            raise CheckpointError(f"checkpoint is truncated in storage {key}")
        data = stream.read(size)
        storages[key] = np.frombuffer(data, dtype=dtype)
    return storages


def _materialize(name: str, ref: TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    base = storages.get(ref.storage.key)
    if base is None:
        raise CheckpointError(f"checkpoint tensor {name} points at a missing storage")
    start = ref.storage.offset + ref.offset
    last = start + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride) if n > 0)
    if any(n == 0 for n in ref.shape):
        return np.zeros(ref.shape, base.dtype)
    if last >= base.size:
        raise CheckpointError(f"checkpoint tensor {name} runs past the end of its storage")
    if not ref.shape:
        return np.array(base[start])  # a 0-d tensor such as num_batches_tracked
    view = np.lib.stride_tricks.as_strided(
        base[start:], shape=ref.shape, strides=[s * base.itemsize for s in ref.stride], writeable=False)
    return np.ascontiguousarray(view)
