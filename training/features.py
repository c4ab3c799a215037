"""The embedding cache: pooled backbone features, computed once per image and reused.

With a frozen backbone the expensive part of training, evaluating and pseudo-labelling is the
forward pass through the backbone; the head on top is tiny. So each image's pooled features (of
the picture and of its mirror, the augmentation a frozen head can use) are stored under
`DIR/features/<key>.sqlite`, keyed by the image's sha256. The key fingerprints the backbone, its
weights and the input spec, so features of another backbone, size or preprocessing are never
read. A store that fails to open or holds a vector of the wrong size is rebuilt, not trusted.
The catalog's `feature_sets` table lists the stores.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from training.preprocess import InputSpec, load_batch
from workspace.catalog import utc_now
from workspace.layout import Workspace
from workspace.progress import Progress

log = logging.getLogger(__name__)

Extractor = Callable[[np.ndarray], np.ndarray]      # (n, s, s, c) uint8 -> (n, dims) float32
BATCH = 64


@dataclass(frozen=True)
class FeatureSpec:
    """What determines a feature vector: backbone, its exact weights, and the input spec."""

    backbone: str
    weights: str            # a fingerprint of the weights (e.g. "sha256:<hex>")
    input: InputSpec
    dims: int

    def as_dict(self) -> dict:
        return {"backbone": self.backbone, "weights": self.weights, "input": asdict(self.input), "dims": self.dims}

    def key(self) -> str:
        text = json.dumps(self.as_dict(), sort_keys=True)
        return f"{self.backbone}-{self.input.size}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        return cls(data["backbone"], data["weights"], InputSpec.from_dict(data["input"]), int(data["dims"]))


def frozen_feature_spec(spec, model, input_spec: InputSpec) -> FeatureSpec:
    """The cache key of a built transfer model's frozen "features" sub-model."""
    from training.models import weights_fingerprint

    return FeatureSpec(spec.name, weights_fingerprint(spec) or "", input_spec,
                       int(model.get_layer("features").output.shape[-1]))


@dataclass(frozen=True)
class Features:
    """Feature rows aligned with the requested images; rows of unreadable files are NaN."""

    plain: np.ndarray
    mirror: np.ndarray
    errors: dict[int, str]
    computed: int           # how many images needed the backbone this time


class FeatureStore:
    """One SQLite file of vectors for one FeatureSpec."""

    def __init__(self, path: Path, spec: FeatureSpec) -> None:
        self.path, self.spec = path, spec
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            log.warning("feature cache %s is unreadable (%s): rebuilding it", path, exc)
            self._discard()
            self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("CREATE TABLE IF NOT EXISTS vectors (sha256 TEXT PRIMARY KEY, plain BLOB NOT NULL,"
                     " mirror BLOB NOT NULL)")
        wanted = json.dumps(self.spec.as_dict(), sort_keys=True)
        row = conn.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta (key, value) VALUES ('spec', ?)", (wanted,))
        elif row[0] != wanted:
            raise sqlite3.DatabaseError("the file holds features of another spec")
        return conn

    def _discard(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        self._conn.close()

    def get(self, digests: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Stored vectors for these sha256 digests; damaged vectors are left out (recomputed)."""
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        unique = list(dict.fromkeys(digests))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for sha, plain, mirror in self._conn.execute(
                    f"SELECT sha256, plain, mirror FROM vectors WHERE sha256 IN ({marks})", chunk):
                vectors = (_decode(plain, self.spec.dims), _decode(mirror, self.spec.dims))
                if vectors[0] is not None and vectors[1] is not None:
                    found[sha] = vectors  # type: ignore[assignment]
        return found

    def put(self, rows: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany("INSERT OR REPLACE INTO vectors (sha256, plain, mirror) VALUES (?, ?, ?)",
                                   [(sha, _encode(p), _encode(m)) for sha, p, m in rows])
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])


def _encode(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _decode(blob: bytes, dims: int) -> np.ndarray | None:
    if not isinstance(blob, bytes) or len(blob) != dims * 4:
        return None
    vector = np.frombuffer(blob, dtype="<f4")
    return vector if np.isfinite(vector).all() else None


def store_path(ws: Workspace, spec: FeatureSpec) -> Path:
    return ws.root / "features" / f"{spec.key()}.sqlite"


def cached_features(ws: Workspace, spec: FeatureSpec, images: Sequence[tuple[str, Path]], extractor: Extractor,
                    progress: Progress | None = None) -> Features:
    """Features of `images` ((sha256, file) pairs), computing and storing only the missing ones."""
    store = FeatureStore(store_path(ws, spec), spec)
    try:
        have = store.get([sha for sha, _ in images])
        missing = [(row, sha, path) for row, (sha, path) in enumerate(images) if sha not in have]
        errors = _compute_missing(store, spec, missing, extractor, have, progress)
        total = store.count()
    finally:
        store.close()
    _record_set(ws, spec, total)
    plain = np.full((len(images), spec.dims), np.nan, dtype=np.float32)
    mirror = plain.copy()
    for row, (sha, _) in enumerate(images):
        if sha in have:
            plain[row], mirror[row] = have[sha]
    return Features(plain, mirror, errors, len(missing) - len(errors))


def _compute_missing(store: FeatureStore, spec: FeatureSpec, missing: list[tuple[int, str, Path]],
                     extractor: Extractor, have: dict, progress: Progress | None) -> dict[int, str]:
    errors: dict[int, str] = {}
    if progress and missing:
        progress(0, len(missing))
    for start in range(0, len(missing), BATCH):
        chunk = missing[start:start + BATCH]
        arrays, rows, failed = load_batch([path for _, _, path in chunk], spec.input)
        for offset, message in failed.items():
            errors[chunk[offset][0]] = message
        if rows:
            both = extractor(np.concatenate([arrays, arrays[:, :, ::-1]]))
            plain, mirror = both[:len(rows)], both[len(rows):]
            fresh = [(chunk[r][1], plain[i], mirror[i]) for i, r in enumerate(rows)]
            store.put(fresh)
            have.update({sha: (p, m) for sha, p, m in fresh})
        if progress:
            progress(min(start + BATCH, len(missing)), len(missing))
    return errors


def _record_set(ws: Workspace, spec: FeatureSpec, images: int) -> None:
    with ws.catalog() as catalog:
        catalog.execute(
            "INSERT INTO feature_sets (key, spec, path, images, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET images = excluded.images, updated_at = excluded.updated_at",
            (spec.key(), json.dumps(spec.as_dict(), sort_keys=True), f"features/{spec.key()}.sqlite", images,
             utc_now()))
