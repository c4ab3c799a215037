"""Write PyTorch legacy (pre-zip) state-dict files without torch, so tests can make checkpoints
with renamed keys, wrong shapes or hostile globals. Globals are written by name (GLOBAL opcode),
never imported here: `Global("os", "system")` only names os.system."""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np

from training.torch_legacy import LEGACY_MAGIC, LEGACY_PROTOCOL

STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}


class Global:
    """A module.name to write into a pickle; calling it is a test bug."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args):
        raise AssertionError("a Global is only written, never called")


class Call:
    """Pickles as `module.name(*args)`: what a hostile (or a torch) pickle asks the loader to run."""

    def __init__(self, target: Global, *args) -> None:
        self.target, self.args = target, args

    def __reduce__(self):
        return self.target, self.args


class _Storage:
    def __init__(self, key: str, array: np.ndarray) -> None:
        self.key, self.array = key, array


class _Writer(pickle._Pickler):  # the pure-Python pickler: its dispatch table can write any name
    dispatch = pickle._Pickler.dispatch.copy()

    def save_named_global(self, obj: Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[Global] = save_named_global

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            storage_type = Global("torch", STORAGE_NAMES[obj.array.dtype])
            return ("storage", storage_type, obj.key, "cpu", obj.array.size, None)
        return None


def _dump(stream, obj) -> None:
    _Writer(stream, protocol=2).dump(obj)


def write_legacy_checkpoint(path: Path, state: dict[str, object], first: object = LEGACY_MAGIC) -> Path:
    """`state` maps names to numpy arrays (stored as tensors) or to any other object (a Call, say).
    `first` replaces the magic number, to put a payload in the very first pickle."""
    storages, entries = [], OrderedDict()
    for name, value in state.items():
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value)
            storage = _Storage(str(len(storages)), array)
            storages.append(storage)
            strides = tuple(s // array.itemsize for s in array.strides)
            value = Call(Global("torch._utils", "_rebuild_tensor_v2"), storage, 0, array.shape, strides,
                         False, Call(Global("collections", "OrderedDict")))
        entries[name] = value
    with open(path, "wb") as stream:
        _dump(stream, first)
        _dump(stream, LEGACY_PROTOCOL)
        _dump(stream, {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
                       "type_sizes": {"short": 2, "int": 4, "long": 4}})
        _dump(stream, entries)
        _dump(stream, [s.key for s in storages])
        for storage in storages:
            stream.write(storage.array.size.to_bytes(8, "little"))
            stream.write(storage.array.astype(storage.array.dtype.newbyteorder("<")).tobytes())
    return path
