"""Smoke check of the benchmark scripts (quick mode, Harvest side), so they cannot rot.

The peer venvs are pointed at an empty folder: the peer side must report itself absent,
not crash. Results go to a temp folder, never over the real bench/results."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import common, dedupe_quality, peers, split_leakage
from bench.transforms import TRANSFORMS

pytestmark = pytest.mark.slow


@pytest.fixture
def isolated(tmp_path: Path, flowers_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(common, "FLOWERS", flowers_dir)
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(peers, "VENVS_DIR", tmp_path / "no-venvs")
    return tmp_path / "results"


def test_split_leakage_quick_has_no_leak_and_skips_absent_peer(isolated: Path, capsys) -> None:
    payload = split_leakage.main(["--quick"])
    assert payload["harvest"]["held_out"] > 0
    assert payload["harvest"]["leaked_known"] == 0          # the acceptance goal, on real photos
    assert payload["split_folders"]["status"] == "absent"
    saved = json.loads((isolated / "split_leakage.json").read_text())
    assert saved["machine"]["cores"] >= 1
    assert "split-folders" in capsys.readouterr().out


def test_dedupe_quality_quick_scores_pairs_and_summary_reads_it(isolated: Path, capsys) -> None:
    payload = dedupe_quality.main(["--quick"])
    harvest = payload["harvest"]
    assert harvest["pairs_expected"] == 12 * len(TRANSFORMS)
    assert 0.9 <= harvest["precision"] <= 1.0
    assert 0.8 <= harvest["recall"] <= 1.0
    assert payload["imagededup"]["status"] == "absent"
    rows = bench_main.summary_rows({"dedupe_quality": payload})
    assert rows[0][0] == "near-dup precision / recall" and rows[0][2] == "absent"
