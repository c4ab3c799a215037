"""workspace.rounds: the rounds row's details round-trip through the catalog, and a row that is
not what the loop writes reads as defaults instead of breaking the report or a resume."""

from __future__ import annotations

from pathlib import Path

from workspace.catalog import Catalog
from workspace.rounds import RoundDetails, finish_round, start_round


def test_details_round_trip_through_the_catalog(tmp_path: Path):
    details = RoundDetails({"cat": {"query": 40, "pseudo": 12}, "dog": {"query": 38}}, 20, "manual", 9, 3, ("dog",))
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        start_round(catalog, 1, 100)
        assert catalog.one("SELECT state FROM rounds WHERE round = 1")["state"] == "running"
        finish_round(catalog, 1, "round-1", 50, 12, 0.8, 0.75, 0.9, details)
        row = catalog.one("SELECT * FROM rounds WHERE round = 1")
        start_round(catalog, 1, 100)  # a resumed round runs again, keeping its start
        again = catalog.one("SELECT state, started_at FROM rounds WHERE round = 1")
    assert (row["state"], row["run_id"], row["accepted"], row["pseudo_precision"]) == ("done", "round-1", 12, 0.9)
    assert RoundDetails.from_json(row["details"]) == details
    assert (again["state"], again["started_at"]) == ("running", row["started_at"])


def test_malformed_details_read_as_defaults():
    for text in (None, "", "not json", "[1]", '{"per_class": [1], "test_images": "many"}'):
        assert RoundDetails.from_json(text) == RoundDetails()
    partial = RoundDetails.from_json('{"per_class": {"cat": {"query": 3, "bad": "x"}, "dog": 2}, "starved": ["cat"]}')
    assert partial == RoundDetails(per_class={"cat": {"query": 3}}, starved=("cat",))
