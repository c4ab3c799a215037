"""`import`: real photos plus bad files, reasons recorded, exact duplicates, idempotent re-runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import make_jpeg
from workspace.importer import import_labelled, import_unlabelled
from workspace.layout import init_workspace, open_workspace


def _bad_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("hello, I am not a picture\n")
    (folder / "page.jpg").write_text("<html><body>404</body></html>")
    good = make_jpeg(folder / "deep" / "er" / "good.jpg", (200, 30, 30), size=(64, 48), pattern=2)
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])


def test_import_records_images_reasons_and_duplicates(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_jpeg(src / "cats" / "a.jpg", (10, 120, 10), pattern=1)
    shutil.copy(src / "cats" / "a.jpg", src / "cats" / "copy-of-a.jpg")
    _bad_files(src / "dogs")
    ws = init_workspace(tmp_path / "ws", ["cats", "dogs"]).workspace

    summary = import_labelled(ws, src)

    assert summary.seen == 7 and summary.new == 7
    with ws.catalog() as catalog:
        rows = {Path(r["source"]).name: r for r in catalog.all("SELECT * FROM images")}
    assert rows["a.jpg"]["status"] == "stored" and rows["a.jpg"]["label_source"] == "manual"
    assert rows["copy-of-a.jpg"]["status"] == "duplicate"
    assert rows["copy-of-a.jpg"]["duplicate_of"] == rows["a.jpg"]["id"]
    assert rows["zero.jpg"]["reason"] == "empty_file"
    assert rows["text.jpg"]["reason"] == "not_an_image"
    assert rows["page.jpg"]["reason"] == "not_an_image"
    assert rows["truncated.jpg"]["reason"] == "truncated"
    assert rows["good.jpg"]["class"] == "dogs" and rows["good.jpg"]["width"] == 64
    assert len(rows["good.jpg"]["phash"]) == 16 and int(rows["good.jpg"]["phash"], 16) >= 0
    for name in ("zero.jpg", "text.jpg", "page.jpg", "truncated.jpg"):
        assert rows[name]["status"] == "rejected" and rows[name]["path"] is None
    # stored files are content-addressed, complete, and nothing partial is left behind
    stored = [r for r in rows.values() if r["path"]]
    for r in stored:
        assert (ws.root / r["path"]).is_file()
        assert r["sha256"] in r["path"]
    assert len(list((ws.root / "raw").rglob("*.*"))) == 2  # a.jpg (+ its copy) and good.jpg
    assert list(ws.tmp_dir.iterdir()) == []


def test_reimport_imports_nothing_twice(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(4):
        make_jpeg(src / "a" / f"{i}.jpg", (30 * i, 60, 90), pattern=i)
    ws = init_workspace(tmp_path / "ws", ["a"]).workspace
    first = import_labelled(ws, src)
    second = import_labelled(ws, src)
    assert first.new == 4
    assert second.new == 0 and second.already == 4
    with ws.catalog() as catalog:
        assert catalog.scalar("SELECT COUNT(*) FROM images") == 4


def test_unknown_class_folder_is_refused_unless_added(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_jpeg(src / "owls" / "1.jpg", (1, 2, 3))
    ws = init_workspace(tmp_path / "ws", ["cats"]).workspace
    with pytest.raises(Exception, match="owls"):
        import_labelled(ws, src)
    import_labelled(ws, src, add_classes=True)
    assert "owls" in open_workspace(ws.root).config().class_names


def test_unlabelled_pool_import(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    for i in range(3):
        make_jpeg(pool / f"{i}.jpg", (90, 10 * i, 10), pattern=i + 4)
    ws = init_workspace(tmp_path / "ws", ["a", "b"]).workspace
    summary = import_unlabelled(ws, pool)
    assert summary.by_status == {"unlabelled": 3}
    with ws.catalog() as catalog:
        assert catalog.scalar("SELECT COUNT(*) FROM images WHERE class IS NULL AND label_source='none'") == 3


def test_import_of_the_real_photos_finds_the_known_exact_duplicates(tmp_path: Path, flowers_dir: Path) -> None:
    ws = init_workspace(tmp_path / "ws", ["sunflowers"]).workspace
    src = tmp_path / "src"
    (src).mkdir()
    (src / "sunflowers").symlink_to(flowers_dir / "sunflowers")
    summary = import_labelled(ws, src)
    assert summary.seen == 300
    with ws.catalog() as catalog:
        dups = catalog.all("SELECT source, duplicate_of FROM images WHERE status='duplicate'")
        kept = {r["id"]: Path(r["source"]).name for r in catalog.all("SELECT id, source FROM images")}
    pairs = {frozenset((Path(d["source"]).name, kept[d["duplicate_of"]])) for d in dups}
    assert frozenset(("14889392928_9742aed45b_m.jpg", "15066430311_fb57fa92b0_m.jpg")) in pairs
    assert frozenset(("15069459615_7e0fd61914_n.jpg", "15072973261_73e2912ef2_n.jpg")) in pairs
