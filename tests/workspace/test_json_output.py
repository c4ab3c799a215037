"""--json on status, jobs, curate and runs: the whole of stdout is one JSON document scripts can parse."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_jpeg
from tests.support.fault_server import FaultServer
from workspace.layout import init_workspace

CLASSES = ("데이지", "장미")


def photos(folder: Path, count: int) -> dict[str, bytes]:
    """Distinct real JPEGs large and busy enough to pass the quality checks."""
    return {f"{i}.jpg": make_jpeg(folder / f"{i}.jpg", ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256),
                                  size=(160 + 8 * i, 128), pattern=i).read_bytes() for i in range(count)}


def parse(result) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_crawl_then_jobs_curate_and_status_as_json(run_cli, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    init_workspace(root, list(CLASSES))
    with FaultServer(images=photos(tmp_path / "photos", 24)) as server:
        url_list = tmp_path / "urls.csv"
        rows = [f"{server.url(f'/ok/{i}.jpg')},{CLASSES[i % 2]}" for i in range(24)]
        rows.append(f"{server.url('/status/404')},{CLASSES[0]}")
        url_list.write_text("url,class\n" + "\n".join(rows) + "\n", encoding="utf-8")
        crawl = run_cli("crawl", root, "--urls", url_list, "--allow-private", "--workers", "2")
        assert crawl.returncode == 0, crawl.stderr

    jobs = parse(run_cli("jobs", root, "--json"))
    assert len(jobs) == 1 and jobs[0]["kind"] == "crawl" and jobs[0]["state"] == "done"
    assert "--urls" in jobs[0]["command"]

    curate = parse(run_cli("curate", root, "--json", "--workers", "1"))
    assert curate["analysed"] == 24
    assert set(curate["splits"]) == set(CLASSES)
    curated = sum(sum(split.values()) for split in curate["splits"].values())
    assert 0 < curated <= 24 - curate["duplicates"] - sum(curate["rejected"].values())

    status = parse(run_cli("status", root, "--json"))
    by_name = {c["name"]: c for c in status["classes"]}
    assert set(by_name) == set(CLASSES)
    assert sum(c["accepted"] for c in by_name.values()) == curated
    assert by_name["데이지"]["label_sources"] == {"query": 12}
    assert status["active_jobs"] == []
    if status["engines"]:  # URL lists are counted under their own engine name when recorded
        assert sum(e["found"] for e in status["engines"]) == 25


def test_json_is_plain_even_when_values_look_like_markup(run_cli, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    init_workspace(root, ["a", "b"])
    run_dir = root / "models" / "[bold]run"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"model": "[red]x" + "y" * 300}))
    rows = parse(run_cli("runs", root, "--json"))
    assert rows[0]["run"] == "[bold]run" and rows[0]["model"] == "[red]x" + "y" * 300
