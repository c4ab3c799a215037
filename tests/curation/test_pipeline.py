"""`curate` end to end on real photos: layout, duplicates, leak-free and frozen splits, Keras."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from curation.hashing import as_int
from curation.pipeline import CurateConfig, curate
from tests.conftest import SHARED_FLOWERS, make_jpeg
from workspace.importer import import_labelled
from workspace.layout import init_workspace, open_workspace

CLASSES = ["daisy", "roses", "sunflowers"]
KNOWN_EXACT = {("14889392928_9742aed45b_m.jpg", "15066430311_fb57fa92b0_m.jpg"),
               ("15069459615_7e0fd61914_n.jpg", "15072973261_73e2912ef2_n.jpg")}


def photo_folder(flowers_dir: Path, dest: Path, per_class: int, offset: int = 0) -> Path:
    for name in CLASSES:
        files = sorted((flowers_dir / name).glob("*.jpg"))
        chosen = files[offset:offset + per_class]
        if name == "sunflowers" and offset == 0:  # make sure the known exact duplicates are in
            chosen += [flowers_dir / name / f for pair in KNOWN_EXACT for f in pair]
        (dest / name).mkdir(parents=True, exist_ok=True)
        for path in chosen:
            shutil.copy(path, dest / name / path.name)
    return dest


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory):
    """One curated workspace of real photos for the module; tests that change it work on a copy."""
    if not (SHARED_FLOWERS / "daisy").is_dir():
        pytest.skip(f"real photos not found at {SHARED_FLOWERS} (they live in ../shared beside the repo)")
    tmp_path = tmp_path_factory.mktemp("curated")
    src = photo_folder(SHARED_FLOWERS, tmp_path / "src", 40)
    # plant near duplicates: a resized + a mirrored copy of two photos
    for name, source in (("daisy", sorted((src / "daisy").iterdir())[0]), ("roses", sorted((src / "roses").iterdir())[0])):
        with Image.open(source) as im:
            im.resize((im.width // 2, im.height // 2)).save(src / name / f"small-{source.name}", quality=85)
            ImageOps.mirror(im).save(src / name / f"mirror-{source.name}", quality=92)
    ws = init_workspace(tmp_path / "ws", CLASSES).workspace
    import_labelled(ws, src)
    summary = curate(ws, CurateConfig(size=64, seed=3))
    return ws, summary


def rows(ws):
    with ws.catalog() as catalog:
        return [dict(r) for r in catalog.all("SELECT * FROM images")]


def test_layout_duplicates_and_metadata(curated) -> None:
    ws, summary = curated
    images = rows(ws)
    by_name = {Path(r["source"]).name: r for r in images}
    for a, b in KNOWN_EXACT:
        pair = {by_name[a]["status"], by_name[b]["status"]}
        assert pair == {"accepted", "duplicate"}, (a, b, pair)
    for r in images:
        if Path(r["source"]).name.startswith(("small-", "mirror-")):
            assert r["status"] == "duplicate" and r["reason"] == "near_duplicate", r["source"]
            kept = next(x for x in images if x["id"] == r["duplicate_of"])
            assert kept["status"] == "accepted"
    accepted = [r for r in images if r["status"] == "accepted"]
    for r in accepted:
        path = ws.root / r["curated_path"]
        assert path.is_file() and r["curated_path"] == f"curated/{r['split']}/{r['class']}/{r['id']}.jpg"
        with Image.open(path) as im:
            assert im.size == (64, 64) and im.mode == "RGB"
        assert len(r["phash"]) == 16
    files = {p.relative_to(ws.root).as_posix() for p in ws.curated_dir.rglob("*.jpg")}
    assert files == {r["curated_path"] for r in accepted}
    with open(ws.curated_dir / "metadata.csv", newline="") as handle:
        meta = list(csv.DictReader(handle))
    assert len(meta) == len(accepted)
    assert {m["split"] for m in meta} == {"train", "val", "test"}
    assert summary.duplicates >= 4


def test_no_near_duplicate_pairs_across_splits(curated) -> None:
    ws, _ = curated
    accepted = [r for r in rows(ws) if r["status"] == "accepted"]
    for i, a in enumerate(accepted):
        for b in accepted[i + 1:]:
            if a["split"] != b["split"]:
                distance = min((as_int(a["phash"]) ^ as_int(b["phash"])).bit_count(),
                               (as_int(a["phash"]) ^ as_int(b["phash_flip"])).bit_count())
                assert distance > 10, (a["source"], b["source"], distance)


def test_test_split_is_frozen_when_new_images_arrive(curated, tmp_path: Path, flowers_dir: Path) -> None:
    ws = open_workspace(shutil.copytree(curated[0].root, tmp_path / "ws"))
    before = {r["id"]: r["split"] for r in rows(ws) if r["status"] == "accepted"}
    test_before = {i for i, s in before.items() if s == "test"}
    more = photo_folder(flowers_dir, tmp_path / "more", 15, offset=100)
    import_labelled(ws, more)
    curate(ws, CurateConfig(size=64, seed=3))
    after = {r["id"]: r["split"] for r in rows(ws) if r["status"] == "accepted"}
    assert all(after[i] == s for i, s in before.items()), "no image changed split"
    assert {i for i, s in after.items() if s == "test"} == test_before, "test is frozen"
    new = set(after) - set(before)
    assert len(new) >= 40 and {after[i] for i in new} <= {"train", "val"}
    # --resplit may move things again
    curate(ws, CurateConfig(size=64, seed=3, resplit=True))
    resplit = {r["id"]: r["split"] for r in rows(ws) if r["status"] == "accepted"}
    assert {i for i, s in resplit.items() if s == "test"} != test_before


def test_keras_reads_the_output(curated) -> None:
    ws, _ = curated
    import keras

    dataset = keras.utils.image_dataset_from_directory(ws.curated_dir / "train", image_size=(64, 64),
                                                       batch_size=8, shuffle=False)
    assert dataset.class_names == CLASSES
    images, labels = next(iter(dataset))
    assert tuple(images.shape[1:]) == (64, 64, 3)


def test_incremental_rerun_does_no_work_and_resize_change_rebuilds(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(12):
        make_jpeg(src / ("a" if i % 2 else "b") / f"{i}.jpg", ((i * 40) % 256, 90, 200 - i * 10),
                  size=(80, 60), pattern=i)
    ws = init_workspace(tmp_path / "ws", ["a", "b"]).workspace
    import_labelled(ws, src)
    first = curate(ws, CurateConfig(size=32))
    again = curate(ws, CurateConfig(size=32))
    assert first.analysed == 12 and again.analysed == 0 and again.written == 0
    bigger = curate(ws, CurateConfig(size=48, format="png"))
    assert bigger.written == first.written and bigger.removed == first.written
    for path in ws.curated_dir.rglob("*.png"):
        with Image.open(path) as im:
            assert im.size == (48, 48)
    assert not list(ws.curated_dir.rglob("*.jpg"))


@pytest.mark.parametrize("args, message", [
    (["--split", "0.8,0.1,0.2"], "split must sum to 1, got 0.8,0.1,0.2"),
    (["--threshold", "80"], "--threshold must be between 0 and 32 bits, got 80"),
    (["--format", "gif"], "--format must be one of jpg, png, webp, got 'gif'"),
    (["--resize-mode", "zoom"], "--resize-mode must be one of"),
])
def test_cli_rejects_bad_settings_in_one_line(run_cli, tmp_path: Path, args, message) -> None:
    run_cli("init", tmp_path / "ws", "--classes", "a")
    result = run_cli("curate", tmp_path / "ws", *args)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_dedupe_command_on_a_folder(run_cli, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    (folder / "x").mkdir(parents=True)
    (folder / "y").mkdir()
    original = folder / "x" / "original.jpg"
    photo = Image.radial_gradient("L").resize((160, 120)).convert("RGB")
    photo.paste((200, 40, 40), (20, 20, 70, 60))
    photo.save(original, quality=95)
    ImageOps.mirror(photo).save(folder / "mirrored.jpg", quality=90)
    photo.resize((80, 60)).save(folder / "y" / "small.jpg", quality=90)
    make_jpeg(folder / "other.jpg", (200, 20, 20), size=(120, 90), pattern=9)
    (folder / "broken.jpg").write_bytes(b"nope")
    out = tmp_path / "groups.csv"
    result = run_cli("dedupe", folder, "--out", out)
    assert result.returncode == 0, result.stderr
    with open(out, newline="") as handle:
        table = list(csv.DictReader(handle))
    members = {Path(r["file"]).name for r in table}
    assert members == {"original.jpg", "mirrored.jpg", "small.jpg"}
    assert [Path(r["file"]).name for r in table if r["kept"] == "yes"] == ["original.jpg"]
    assert "unreadable" in result.stdout and "broken.jpg" in result.stdout
