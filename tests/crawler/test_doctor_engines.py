"""`doctor --engines`: one search per engine through real headless Chromium against the replica site,
counting the full-resolution URLs parsed; an engine that parses none fails with its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.crawler.conftest import chromium_available

pytestmark = pytest.mark.browser


def engine_rows(result) -> dict[str, dict[str, str]]:
    return {r["name"].removeprefix("engine: "): r for r in json.loads(result.stdout) if r["name"].startswith("engine: ")}


def test_doctor_engines_counts_full_resolution_urls_per_engine(run_cli, tmp_path: Path, replica_site) -> None:
    if not chromium_available():
        pytest.skip("Chromium and chromedriver are not installed (see crawler/ensure_browser.sh)")
    result = run_cli("doctor", tmp_path, "--engines", "--base-url", replica_site.base_url, "--json")
    rows = engine_rows(result)
    assert set(rows) == {"bing", "duckduckgo", "naver", "google"}
    for name, row in rows.items():
        assert row["status"] == "ok", row
        assert "'daisy': 20 full-resolution URLs" in row["detail"], row  # the replica has 32 daisies

    nothing = run_cli("doctor", tmp_path, "--engines", "--base-url", replica_site.base_url, "--query",
                      "no such class", "--json")
    assert nothing.returncode == 1
    for row in engine_rows(nothing).values():
        assert row["status"] == "fail" and "0 full-resolution URLs" in row["detail"]
        assert "markup may have changed" in row["fix"]
