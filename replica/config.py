"""The replica site's knobs: how many results per page and how much realistic noise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crawler.errors import CrawlerError

NOISE_KNOBS = ("offclass_share", "duplicate_share", "reencoded_share", "broken_share",
               "thumbnail_only_share")


@dataclass(frozen=True)
class ReplicaConfig:
    """FOLDER/<class>/* served like real engines; shares are fractions of each result list."""

    folder: Path
    per_page: int = 35
    # Off-class results come from other classes' photos in this folder when given (a pool no
    # query returns as on-class), as real engines' off-class hits are mostly distinct pictures;
    # by default they are other classes' served photos, which dedupe then sees as cross-class copies.
    offclass_folder: Path | None = None
    offclass_share: float = 0.0
    duplicate_share: float = 0.0
    reencoded_share: float = 0.0
    broken_share: float = 0.0
    thumbnail_only_share: float = 0.0
    slow_ms: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder))
        if self.offclass_folder is not None:
            object.__setattr__(self, "offclass_folder", Path(self.offclass_folder))
        if not 1 <= self.per_page <= 1000:
            raise CrawlerError(f"per_page must be between 1 and 1000, got {self.per_page}")
        for knob in NOISE_KNOBS:
            value = getattr(self, knob)
            if not 0.0 <= value < 1.0:
                raise CrawlerError(f"{knob} must be in [0, 1), got {value}")
        total = sum(getattr(self, k) for k in NOISE_KNOBS)
        if total >= 0.95:
            raise CrawlerError(f"the noise shares add up to {total:g}; keep their sum below 0.95")
        if not 0 <= self.slow_ms <= 60_000:
            raise CrawlerError(f"slow_ms must be between 0 and 60000, got {self.slow_ms}")
