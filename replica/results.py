"""The replica's result lists and truth map: which file every opaque URL token really is.

Each class's list holds every image of that class plus the configured noise (off-class images,
exact duplicates, re-encoded copies, broken links, thumbnail-only results), shuffled
deterministically by seed.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from crawler.errors import CrawlerError
from replica.config import ReplicaConfig

# What the replica serves, with its Content-Type: the formats every browser shows (no TIFF), a
# subset of workspace.imagecheck.IMAGE_SUFFIXES. Other files in its folder are not served.
SERVED_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
                ".webp": "image/webp", ".bmp": "image/bmp"}
KINDS = ("original", "duplicate", "reencoded", "offclass", "broken", "thumbnail")


@dataclass(frozen=True)
class ReplicaItem:
    """One search result. `kind` says what the crawler will really get behind its URL."""

    token: str
    kind: str
    true_class: str | None
    file: Path | None
    width: int
    height: int
    broken_mode: str | None = None   # "404" or "html" for kind "broken"

    @property
    def suffix(self) -> str:
        return ".jpg" if self.file is None or self.kind == "reencoded" else self.file.suffix.lower()

    @property
    def full_path(self) -> str:
        return f"/img/{self.token}{self.suffix}"

    @property
    def thumb_path(self) -> str:
        return f"/th?id={self.token}"

    @property
    def source_path(self) -> str:
        return f"/source/{self.token}.html"

    @property
    def title(self) -> str:
        return f"Image {self.token[:6]}"

    @property
    def has_full(self) -> bool:
        return self.kind != "thumbnail"


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", text.lower()).split())


class ResultIndex:
    """Builds each class's result list on first use; thread-safe; deterministic by seed."""

    def __init__(self, config: ReplicaConfig) -> None:
        self.config = config
        self.files = scan_folder(config.folder)
        self.offclass_files = scan_folder(config.offclass_folder) if config.offclass_folder else self.files
        self._lists: dict[str, list[ReplicaItem]] = {}
        self._tokens: dict[str, ReplicaItem] = {}
        self._lock = threading.Lock()

    @property
    def classes(self) -> list[str]:
        return sorted(self.files)

    def match_class(self, query: str) -> str | None:
        """The longest class name contained (as whole words) in the query, else None."""
        padded = f" {normalise(query)} "
        hits = [c for c in self.files if f" {normalise(c)} " in padded]
        return max(hits, key=lambda c: len(normalise(c))) if hits else None

    def results(self, query: str) -> list[ReplicaItem]:
        name = self.match_class(query)
        return self.class_results(name) if name else []

    def class_results(self, name: str) -> list[ReplicaItem]:
        with self._lock:
            if name not in self._lists:
                self._lists[name] = self._build(name)
                self._tokens.update((item.token, item) for item in self._lists[name])
            return self._lists[name]

    def item(self, token: str) -> ReplicaItem | None:
        with self._lock:
            return self._tokens.get(token)

    def all_items(self) -> list[ReplicaItem]:
        return [item for name in self.classes for item in self.class_results(name)]

    def _build(self, name: str) -> list[ReplicaItem]:
        cfg, rng = self.config, random.Random(f"{self.config.seed}:{name}")
        own = self.files[name]
        others = [(c, f) for c in sorted(self.offclass_files) if c != name for f in self.offclass_files[c]]
        shares = {"offclass": cfg.offclass_share, "duplicate": cfg.duplicate_share,
                  "reencoded": cfg.reencoded_share, "broken": cfg.broken_share,
                  "thumbnail": cfg.thumbnail_only_share}
        total = round(len(own) / (1.0 - sum(shares.values())))
        items = [self._item(name, "original", name, f, i) for i, f in enumerate(own)]
        for kind, share in shares.items():
            for i in range(round(share * total)):
                if kind == "offclass":
                    if not others:
                        break
                    other_class, source = rng.choice(others)
                    items.append(self._item(name, kind, other_class, source, i))
                elif kind == "broken":
                    items.append(self._item(name, kind, None, None, i, "404" if i % 2 else "html"))
                else:
                    items.append(self._item(name, kind, name, rng.choice(own), i))
        rng.shuffle(items)
        return items

    def _item(self, name: str, kind: str, true_class: str | None, file: Path | None, index: int,
              broken_mode: str | None = None) -> ReplicaItem:
        key = f"{self.config.seed}|{name}|{kind}|{index}|{file.name if file else ''}"
        token = hashlib.sha256(key.encode()).hexdigest()[:24]
        width, height = image_size(file) if file else (640, 480)
        if kind == "reencoded":
            width, height = max(1, width * 9 // 10), max(1, height * 9 // 10)
        return ReplicaItem(token, kind, true_class, file, width, height, broken_mode)


def scan_folder(folder: Path) -> dict[str, list[Path]]:
    """FOLDER/<class>/ images (any depth); a CrawlerError when there is nothing to serve."""
    if not folder.is_dir():
        raise CrawlerError(f"replica folder not found: {folder}")
    files = {
        sub.name: sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in SERVED_TYPES)
        for sub in sorted(folder.iterdir()) if sub.is_dir() and not sub.name.startswith(".")
    }
    files = {name: found for name, found in files.items() if found}
    if not files:
        raise CrawlerError(f"replica folder {folder} has no FOLDER/<class>/<image> files to serve")
    return files


def image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return (640, 480)
