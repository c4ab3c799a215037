"""The CLI as a user meets it: exit codes, one-line errors, init/import/status/export."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_jpeg

MANIFEST_COLUMNS = ["id", "path", "class", "status", "reason", "split", "label_source", "confidence",
                    "round", "source", "page_url", "query", "engine", "width", "height", "format",
                    "bytes", "phash", "duplicate_of"]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_missing_workspace_is_one_line_exit_1(run_cli, tmp_path: Path) -> None:
    result = run_cli("status", tmp_path / "nowhere")
    assert result.returncode == 1
    assert "no workspace at" in _one_error_line(result.stderr)


def test_bad_class_list_is_one_line_exit_1(run_cli, tmp_path: Path) -> None:
    for bad in ("a,,b", "a,a", "../etc", " "):
        result = run_cli("init", tmp_path / "ws", "--classes", bad)
        assert result.returncode == 1, bad
        line = _one_error_line(result.stderr)
        assert bad.strip() in line or "comma-separated" in line
    assert not (tmp_path / "ws" / "harvest.json").exists()


def test_bad_split_echoes_the_value(run_cli, tmp_path: Path) -> None:
    result = run_cli("init", tmp_path / "ws", "--classes", "a,b", "--split", "0.8,0.1,0.2")
    assert result.returncode == 1
    assert "split must sum to 1, got 0.8,0.1,0.2" in _one_error_line(result.stderr)


def test_unknown_command_and_missing_option_are_usage_errors(run_cli, tmp_path: Path) -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "No such command" in _one_error_line(result.stderr)
    result = run_cli("init", tmp_path / "ws")
    assert result.returncode == 2
    assert "--classes" in _one_error_line(result.stderr)


def test_every_command_has_help(run_cli) -> None:
    """The top-level help as a user runs it; each command's help in-process (one import of the
    app instead of a Python start per command)."""
    from typer.testing import CliRunner

    from cli import app, register_commands

    result = run_cli("--help")
    assert result.returncode == 0
    commands = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert {"init", "import", "status", "export"} <= set(commands)
    register_commands()
    runner = CliRunner()
    for command in commands:
        sub = runner.invoke(app, [command, "--help"], terminal_width=200)
        assert sub.exit_code == 0, (command, sub.output)
        assert "Usage:" in sub.output, command


def test_init_twice_never_destroys_data(run_cli, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run_cli("init", ws, "--classes", "daisy,roses").returncode == 0
    make_jpeg(tmp_path / "src" / "daisy" / "1.jpg", (250, 250, 20))
    assert run_cli("import", ws, tmp_path / "src").returncode == 0
    config_before = (ws / "harvest.json").read_text()
    again = run_cli("init", ws, "--classes", "tulips")
    assert again.returncode == 0
    assert "already exists" in again.stdout
    assert (ws / "harvest.json").read_text() == config_before
    status = json.loads(run_cli("status", ws, "--json").stdout)
    assert {c["name"]: c["stored"] for c in status["classes"]} == {"daisy": 1, "roses": 0}


def test_queries_file_sets_queries_per_class(run_cli, tmp_path: Path) -> None:
    queries = tmp_path / "q.txt"
    queries.write_text("# comment\ndaisy: daisy flower; oxeye daisy\nroses: rose bloom\n")
    assert run_cli("init", tmp_path / "ws", "--classes", "daisy,roses,tulips", "--queries", queries).returncode == 0
    config = json.loads((tmp_path / "ws" / "harvest.json").read_text())
    assert config["classes"]["daisy"]["queries"] == ["daisy flower", "oxeye daisy"]
    assert config["classes"]["tulips"]["queries"] == ["tulips"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_import_status_export_round_trip(run_cli, tmp_path: Path, suffix: str) -> None:
    ws = tmp_path / "ws"
    src = tmp_path / "src"
    for i in range(3):
        make_jpeg(src / "daisy" / f"{i}.jpg", (200, 200, 40 * i), pattern=i)
    (src / "roses").mkdir(parents=True)
    (src / "roses" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    assert run_cli("init", ws, "--classes", "daisy,roses").returncode == 0
    imported = run_cli("import", ws, src)
    assert imported.returncode == 0, imported.stderr
    assert "imported 4 new of 4" in imported.stdout
    status = run_cli("status", ws)
    assert status.returncode == 0
    rows = {line.split("│")[1].strip(): line for line in status.stdout.splitlines() if line.count("│") > 5}
    assert set(rows) == {"daisy", "roses"}
    assert "manual 3" in rows["daisy"] and ("truncated 1" in rows["roses"] or "decode_error 1" in rows["roses"])
    counts = {c["name"]: c for c in json.loads(run_cli("status", ws, "--json").stdout)["classes"]}
    assert (counts["daisy"]["stored"], counts["daisy"]["unprocessed"], counts["daisy"]["rejected_total"]) == (3, 3, 0)
    assert counts["roses"]["rejected_total"] == 1 and set(counts["roses"]["rejected"]) <= {"truncated", "decode_error"}
    out = tmp_path / f"manifest{suffix}"
    result = run_cli("export", ws, "--out", out)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(frame.columns[: len(MANIFEST_COLUMNS)]) == MANIFEST_COLUMNS
    assert len(frame) == 4
    daisy = frame[frame["class"] == "daisy"]
    assert set(daisy["label_source"]) == {"manual"}
    assert all(Path(s).name in {"0.jpg", "1.jpg", "2.jpg"} for s in daisy["source"])
    rejected = frame[frame["class"] == "roses"].iloc[0]
    assert rejected["status"] == "rejected" and rejected["reason"] in ("truncated", "decode_error")


def test_export_refuses_unknown_format(run_cli, tmp_path: Path) -> None:
    assert run_cli("init", tmp_path / "ws", "--classes", "a").returncode == 0
    result = run_cli("export", tmp_path / "ws", "--out", tmp_path / "m.xlsx")
    assert result.returncode == 1
    assert ".csv or .parquet" in _one_error_line(result.stderr)


def test_the_command_table_names_what_each_module_registers() -> None:
    """cli.COMMAND_MODULES decides which module a run imports: each module must register exactly
    the commands the table gives it, and the table's order is `--help`'s."""
    import typer
    from typer.main import get_command

    import cli

    listed = []
    for load, names in cli.COMMAND_MODULES.items():
        fresh = typer.Typer()
        fresh.callback()(lambda: None)
        load().register(fresh)
        assert tuple(get_command(fresh).commands) == names, load.__name__
        listed += names
    assert len(listed) == len(set(listed))


def test_a_command_imports_only_its_own_package(tmp_path: Path) -> None:
    """`curate` does not pay for importing the crawler, the replica site or training; `--help`
    still lists every command."""
    import subprocess
    import sys

    from tests.conftest import REPO

    script = ("import json, sys, cli; cli.register_commands(cli.command_named(sys.argv[1:]));"
              " print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    def packages(*argv: str) -> set[str]:
        found = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=REPO,
                               check=True, timeout=120)
        return set(json.loads(found.stdout))

    others = {"crawler", "replica", "training", "selftrain", "demo"}
    assert packages("-q", "curate", "W", "--size", "64") & others == set()
    assert packages("--help") >= others | {"curation", "workspace"}
