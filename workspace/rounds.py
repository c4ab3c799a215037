"""The `rounds` table of self-training: one row per round, written by the loop, read by the loop
(to resume) and by the report. `RoundDetails` owns the shape of the row's `details` JSON, so
neither reader needs to know it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from workspace.catalog import Catalog, utc_now


@dataclass(frozen=True)
class RoundDetails:
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)   # class -> label source -> accepted images
    test_images: int = 0
    test_labels: str = "query"                                          # manual (clean) | query (noisy)
    smallest_test_class: int = 0
    held_back: int = 0                                                   # likely off-class round-0 labels
    starved: tuple[str, ...] = ()                                        # classes with no confident candidate

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "starved": list(self.starved)})

    @classmethod
    def from_json(cls, text: str | None) -> RoundDetails:
        """The details of a row; defaults for what is absent, and for a value that is not JSON
        or not an object (a row written by hand, or by a version that died mid-write)."""
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls(_per_class(data.get("per_class")), _int(data.get("test_images")),
                   str(data.get("test_labels", "query")), _int(data.get("smallest_test_class")),
                   _int(data.get("held_back")), tuple(str(s) for s in data.get("starved") or ()))


def _per_class(value: object) -> dict[str, dict[str, int]]:
    if not isinstance(value, dict):
        return {}
    return {str(c): {str(k): int(v) for k, v in counts.items() if isinstance(v, (int, float))}
            for c, counts in value.items() if isinstance(counts, dict)}


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def start_round(catalog: Catalog, round_: int, target: int) -> None:
    """Mark a round running (again, when a killed one is resumed)."""
    catalog.execute("INSERT INTO rounds (round, state, target, started_at) VALUES (?, 'running', ?, ?)"
                    " ON CONFLICT(round) DO UPDATE SET state = 'running'", (round_, target, utc_now()))


def finish_round(catalog: Catalog, round_: int, run_id: str, candidates: int, accepted: int, val_accuracy: float,
                 test_accuracy: float, precision: float | None, details: RoundDetails) -> None:
    catalog.execute(
        "UPDATE rounds SET state='done', run_id=?, candidates=?, accepted=?, val_accuracy=?, test_accuracy=?,"
        " pseudo_precision=?, details=?, ended_at=? WHERE round=?",
        (run_id, candidates, accepted, val_accuracy, test_accuracy, precision, details.to_json(), utc_now(), round_))
