"""Analysis at ingest (issue 21): a crawl keeps the one decode's analysis and resized output,
and curate adopts them instead of decoding the originals again."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from crawler.downloader import POOL_FROM
from crawler.crawl import CrawlConfig, crawl
from crawler.http import HttpPolicy
from curation.ingest_analysis import analysis_key, workspace_resize_spec
from curation.pipeline import CurateConfig, curate
from curation.resize import ResizeSpec
from tests.conftest import REPO
from tests.support.fault_server import FaultServer
from workspace.layout import Workspace, init_workspace

LOCAL = HttpPolicy(connect_timeout=2, read_timeout=5, deadline=10, retries=1, allow_private=True)


def noise_jpeg(seed: int, size: tuple[int, int] = (120, 90)) -> bytes:
    """A distinct textured photo-like JPEG (no two are near duplicates)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[1] // 6, size[0] // 6, 3), dtype=np.uint8)
    image = Image.fromarray(small, "RGB").resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def crawl_urls(tmp_path: Path, server: FaultServer, paths: list[str]) -> Workspace:
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    url_file = tmp_path / "urls.txt"
    url_file.write_text("".join(server.url(p) + "\n" for p in paths))
    summary = crawl(ws, CrawlConfig(urls_file=url_file, url_class="a", workers=4, http=LOCAL))
    assert not summary.cancelled
    return ws


def break_originals(ws: Workspace) -> int:
    """Overwrite every stored original with bytes no decoder takes: a curate that decodes one
    rejects it (decode_error), one that adopts the ingest analysis does not notice."""
    broken = 0
    for path in (ws.root / "raw").rglob("*.*"):
        path.write_bytes(b"\xff\xd8\xff" + b"\0" * 64)
        broken += 1
    return broken


@pytest.mark.parametrize("count", [12, POOL_FROM + 6], ids=["in-thread", "process-pool"])
def test_curate_after_crawl_decodes_no_original(tmp_path: Path, count: int) -> None:
    files = {f"{i}.jpg": noise_jpeg(i) for i in range(count)}
    with FaultServer(images=files) as server:
        ws = crawl_urls(tmp_path, server, [f"/ok/{name}" for name in files])
    config = CurateConfig(workers=2)  # size 224: the workspace's image_size, so outputs were cached
    with ws.catalog() as catalog:
        key = {r[0] for r in catalog.all("SELECT ingest_analysis FROM images WHERE status = 'stored'")}
        assert key == {analysis_key(config.resize_spec)}
        assert catalog.scalar("SELECT COUNT(*) FROM images WHERE thumb IS NULL OR dhash_flip IS NULL") == 0
        stored = {r[0] for r in catalog.all("SELECT sha256 FROM images")}  # hashed as the bytes streamed in
    assert stored == {hashlib.sha256(data).hexdigest() for data in files.values()}
    assert break_originals(ws) == count
    summary = curate(ws, config)
    assert summary.analysed == count
    with ws.catalog() as catalog:
        reasons = {r[0]: r[1] for r in catalog.all("SELECT reason, COUNT(*) FROM images GROUP BY reason")}
        assert catalog.scalar("SELECT COUNT(*) FROM images WHERE ingest_analysis IS NOT NULL") == 0
        accepted = catalog.scalar("SELECT COUNT(*) FROM images WHERE status = 'accepted'")
    assert set(reasons) == {None}, reasons
    assert accepted == count and summary.written == count
    written = list((ws.root / "curated").rglob("*.jpg"))
    assert len(written) == count
    assert all(Image.open(p).size == (224, 224) for p in written)


def test_analysis_made_under_other_settings_is_redone_by_curate(tmp_path: Path) -> None:
    files = {f"{i}.jpg": noise_jpeg(i, (700, 520)) for i in range(4)}
    with FaultServer(images=files) as server:
        ws = crawl_urls(tmp_path, server, [f"/ok/{name}" for name in files])
    config = CurateConfig(size=512, workers=1)  # drafts to 512, not 256: a different analysis
    assert analysis_key(config.resize_spec) != analysis_key(ResizeSpec(224))
    break_originals(ws)
    summary = curate(ws, config)
    assert summary.analysed == 4
    with ws.catalog() as catalog:
        assert catalog.scalar("SELECT COUNT(*) FROM images WHERE reason = 'decode_error'") == 4


def test_curate_still_applies_its_limits_and_flags_to_ingest_analyses(tmp_path: Path) -> None:
    flat = Image.new("RGB", (120, 90), (90, 90, 90))
    buffer = io.BytesIO()
    flat.save(buffer, "JPEG")
    files = {"ok.jpg": noise_jpeg(1), "tiny.jpg": noise_jpeg(2, (24, 24)), "strip.jpg": noise_jpeg(3, (700, 60)),
             "flat.jpg": buffer.getvalue()}
    with FaultServer(images=files) as server:
        ws = crawl_urls(tmp_path, server, [f"/ok/{name}" for name in files])
    with ws.catalog() as catalog:  # ingest refuses only what does not decode
        assert catalog.scalar("SELECT COUNT(*) FROM images WHERE status = 'stored'") == 4
    curate(ws, CurateConfig(workers=1))
    with ws.catalog() as catalog:
        reasons = {r["source"].rsplit("/", 1)[1]: (r["status"], r["reason"])
                   for r in catalog.all("SELECT source, status, reason FROM images")}
    assert reasons == {"ok.jpg": ("accepted", None), "tiny.jpg": ("rejected", "too_small"),
                       "strip.jpg": ("rejected", "odd_aspect"), "flat.jpg": ("rejected", "low_information")}


def test_the_output_cached_at_ingest_is_the_one_a_plain_curate_makes(tmp_path: Path) -> None:
    import json

    from workspace.config import build_stage_config

    ws = init_workspace(tmp_path / "ws", ["a"], image_size=192).workspace
    settings = json.loads(ws.config_path.read_text())
    settings["curate"] = {"resize_mode": "pad", "quality": 80, "format": "webp"}
    ws.config_path.write_text(json.dumps(settings))
    ws_config = ws.config()
    curate_config = build_stage_config(CurateConfig, ws_config.section("curate"), {}, section="curate", defaults={
        "size": ws_config.image_size, "split": ws_config.split, "seed": ws_config.seed,
        "max_pixels": ws_config.max_pixels})  # as `harvest curate DIR` builds it
    assert workspace_resize_spec(ws) == curate_config.resize_spec == ResizeSpec(192, "pad", "webp", 80)
    settings["curate"] = {"resize_mode": "sideways"}
    ws.config_path.write_text(json.dumps(settings))
    assert workspace_resize_spec(ws) is None


@pytest.mark.slow
def test_killed_crawl_takes_its_analysis_workers_along_and_resumes_every_fate(tmp_path: Path) -> None:
    count = POOL_FROM + 16
    files = {f"{i}.jpg": noise_jpeg(i) for i in range(count)}
    with FaultServer(images=files) as server:
        url_file = tmp_path / "urls.txt"
        url_file.write_text("".join(server.url(f"/slow/{name}?ms=120") + "\n" for name in files))
        ws = init_workspace(tmp_path / "ws", ["a"]).workspace
        argv = [sys.executable, str(REPO / "cli.py"), "crawl", str(ws.root), "--urls", str(url_file), "--class", "a",
                "--allow-private", "--workers", "4"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        parent, workers, deadline = psutil.Process(proc.pid), [], time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [c for c in parent.children(recursive=True) if "multiprocessing" in " ".join(c.cmdline())]
            with sqlite3.connect(ws.catalog_path, timeout=30) as conn:
                if workers and conn.execute("SELECT COUNT(*) FROM images").fetchone()[0] >= 8:
                    break
            time.sleep(0.05)
        assert workers and proc.poll() is None, "the crawl never analysed in its pool, or finished too soon"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"analysis workers outlived the killed crawl: {[p.pid for p in alive]}"
        with sqlite3.connect(ws.catalog_path, timeout=30) as conn:
            assert conn.execute("SELECT COUNT(*) FROM candidates WHERE status = 'pending'").fetchone()[0] > 0
        resumed = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        assert resumed.returncode == 0, resumed.stderr
    with sqlite3.connect(ws.catalog_path) as conn:
        fates = dict(conn.execute("SELECT status, COUNT(*) FROM candidates GROUP BY status").fetchall())
        analysed = conn.execute("SELECT COUNT(*) FROM images WHERE ingest_analysis IS NOT NULL").fetchone()[0]
    assert fates == {"stored": count}, fates
    assert analysed == count


def photo_files(folder: Path) -> list[Path]:
    """A JPEG, one turned by EXIF, a PNG with alpha and a 3-frame GIF: what the check must describe."""
    folder.mkdir()
    (folder / "plain.jpg").write_bytes(noise_jpeg(1, (300, 200)))
    turned = Image.open(io.BytesIO(noise_jpeg(2, (300, 200))))
    exif = turned.getexif()
    exif[0x0112] = 6
    turned.save(folder / "turned.jpg", exif=exif)
    Image.new("RGBA", (80, 50), (10, 200, 30, 128)).save(folder / "alpha.png")
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:])
    return sorted(folder.iterdir())


def test_the_check_opens_a_good_file_once_and_describes_it_as_the_full_check_does(tmp_path: Path, monkeypatch) -> None:
    from curation.ingest_analysis import check_download
    from workspace.imagecheck import DEFAULT_MAX_PIXELS, inspect_image

    opened: list[str] = []
    real_open = Image.open

    def counting_open(fp, *args, **kwargs):
        opened.append(str(fp))
        return real_open(fp, *args, **kwargs)

    for path in photo_files(tmp_path / "photos"):
        full = inspect_image(path, DEFAULT_MAX_PIXELS)
        monkeypatch.setattr(Image, "open", counting_open)
        checked = check_download(str(path), "x", None, DEFAULT_MAX_PIXELS, None)
        monkeypatch.setattr(Image, "open", real_open)
        assert checked.reason is None and checked.analysis is not None, path.name
        assert (checked.info.format, checked.info.width, checked.info.height, checked.info.frames) == \
            (full.format, full.width, full.height, full.frames), path.name
        assert checked.info.phash == checked.analysis.signature.hashes.phash
        assert opened == [str(path)], f"{path.name} opened {len(opened)} times"
        opened.clear()
