"""The HTML report renders in real headless Chromium, with its images, and escapes web text."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from curation.pipeline import CurateConfig, curate
from curation.report import build_report
from tests.conftest import chromium_available, make_jpeg
from workspace.catalog import utc_now
from workspace.importer import import_labelled
from workspace.layout import init_workspace

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def workspace(tmp_path: Path):
    src = tmp_path / "src"
    for i in range(8):
        make_jpeg(src / ("cats" if i % 2 else "dogs") / f"{i}.jpg", ((i * 30) % 256, 120, 60), size=(80, 64), pattern=i)
    (src / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xffnot really")
    ws = init_workspace(tmp_path / "ws", ["cats", "dogs"]).workspace
    import_labelled(ws, src)
    curate(ws, CurateConfig(size=32))
    with ws.catalog() as catalog:
        catalog.execute("INSERT INTO candidates (url, class, title, engine, found_at, status, reason) VALUES"
                        " (?, 'cats', ?, 'bing', ?, 'failed', 'http_404')", ("javascript:alert(1)", HOSTILE, utc_now()))
        catalog.execute("UPDATE images SET source = ? WHERE id = (SELECT id FROM images WHERE status='accepted' LIMIT 1)",
                        (f"https://example.com/{HOSTILE}.jpg",))
        catalog.execute("INSERT INTO rounds (round, state, accepted, test_accuracy, details, started_at) VALUES"
                        " (0, 'done', 0, 0.5, ?, ?)", ('{"per_class": {"cats": {"manual": 4}}}', utc_now()))
    return ws


def test_report_escapes_everything_from_the_web(workspace) -> None:
    page = build_report(workspace).read_text()
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert 'href="javascript:' not in page
    assert "Content-Security-Policy" in page
    for section in ("Classes", "Rejected", "Duplicate clusters", "Cross-class conflicts", "Contact sheets",
                    "Per-engine yield", "Self-training rounds"):
        assert section in page


def test_empty_workspace_still_gives_a_page(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "empty", ["a"]).workspace
    page = build_report(ws).read_text()
    assert "0 images in the catalog" in page and "No crawl yet" in page


def test_malformed_rows_do_not_crash_the_report(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "odd", ["a"]).workspace
    with ws.catalog() as catalog:
        catalog.execute("INSERT INTO images (id, sha256, path, class, source, status, reason, label_source, format,"
                        " added_at) VALUES ('x1', 'ab', 'images/nowhere.svg', 'a', 'http://[::1', 'rejected',"
                        " 'unsupported_format', 'manual', 'svg', ?)", (utc_now(),))
        catalog.execute("INSERT INTO images (id, sha256, path, class, source, status, reason, label_source, format,"
                        " added_at) VALUES ('../../x2', 'cd', 'images/x2.jpg', 'a', 'data:image/svg+xml,<svg>',"
                        " 'rejected', 'too_small', 'manual', 'jpeg', ?)", (utc_now(),))
        catalog.execute("INSERT INTO rounds (round, state, details, started_at) VALUES (0, 'running', 'not json', ?)",
                        (utc_now(),))
        catalog.execute("INSERT INTO rounds (round, state, details, started_at) VALUES (1, 'done', '[1]', ?)",
                        (utc_now(),))
    page = build_report(ws).read_text()
    assert "<img" not in page  # the SVG and the odd id get placeholders, never an image
    assert 'href="data:' not in page and "(no image)" in page
    assert "Self-training rounds" in page
    assert not (ws.reports_dir.parent / "x2.jpg").exists()


@pytest.mark.browser
@pytest.mark.skipif(not chromium_available(), reason="needs chromium and chromedriver")
def test_report_renders_with_its_images_in_chromium(workspace) -> None:
    from selenium import webdriver

    path = build_report(workspace)
    profile = tempfile.mkdtemp(prefix="harvest-test-")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")),
                              options=options)
    try:
        from selenium.common.exceptions import NoAlertPresentException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        driver.set_window_size(1300, 30000)  # every lazy thumbnail in view
        driver.get(path.as_uri())
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);")
        assert len(images) >= 8
        assert all(complete and width > 0 for _, complete, width in images), images
        assert driver.execute_script("return document.querySelectorAll('script').length") == 0
        assert driver.execute_script("return document.querySelectorAll('a[href^=\"javascript\"]').length") == 0
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text
        hrefs = driver.execute_script("return Array.from(document.links).map(a => a.getAttribute('href'))")
        assert f"https://example.com/{HOSTILE}.jpg" in hrefs  # kept verbatim as data, never run
        assert "9 images in the catalog" in driver.find_element(By.TAG_NAME, "body").text
        assert "Harvest report" in driver.title
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_per_engine_yield_numbers_match_the_candidates(tmp_path: Path) -> None:
    """Known truth: bing found 6 (one a thumbnail), downloaded 4 of them (3 new, 1 exact copy),
    1 failed http_404, 1 skipped too_small; ddg found 2, both failed timeout."""
    import re

    ws = init_workspace(tmp_path / "yield", ["a"]).workspace
    rows = [("bing", "stored", None, 0)] * 3 + [("bing", "duplicate", None, 0), ("bing", "failed", "http_404", 1),
                                                ("bing", "skipped", "too_small", 0)] + [("ddg", "failed", "timeout", 0)] * 2
    with ws.catalog() as catalog:
        for k, (engine, status, reason, thumbnail) in enumerate(rows):
            catalog.execute("INSERT INTO candidates (url, class, engine, is_thumbnail, found_at, status, reason)"
                            " VALUES (?, 'a', ?, ?, ?, ?, ?)",
                            (f"https://example.com/{k}.jpg", engine, thumbnail, utc_now(), status, reason))
    page = build_report(ws).read_text()
    section = page[page.index("Per-engine yield"):]
    table = section[:section.index("</table>")]
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table) if "<td>" in row]
    assert cells == [["bing", "6", "83%", "4", "3", "http_404 1, too_small 1"],
                     ["ddg", "2", "100%", "0", "0", "timeout 2"]]
