"""workspace.images on a real SQLite catalog: every transition writes what its stage relies on,
bad values raise before anything is stored, and no other module writes an image's status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workspace.catalog import Catalog, utc_now
from workspace.errors import CatalogError, HarvestError
from workspace.images import (
    SPLITS, UNJUDGED_LABELS, ImageStatus, LabelSource, LifecycleError, Split, Verdicts, accepted_per_class_and_source,
    arrival_status, count_in_class, count_per_class, label_source, pin_test_split, record_verdicts, reject, reject_flagged,
    reject_labels, reject_many, rejected_by_reason, release_test_split, return_for_curation, sync_class_images,
)
from workspace.stage_runs import has_finished, last_params, record_finished_run, stage_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def catalog(tmp_path: Path):
    with Catalog(tmp_path / "catalog.sqlite") as cat:
        yield cat


def add(catalog: Catalog, image_id: str, status: str = "stored", cls: str | None = "cat", source: str = "query",
        split: str | None = None, **extra) -> None:
    columns = {"id": image_id, "sha256": image_id * 4, "path": f"raw/{image_id}.jpg", "class": cls,
               "source": f"https://example.test/{image_id}", "status": status, "label_source": source,
               "split": split, "added_at": utc_now(), **extra}
    catalog.execute(f"INSERT INTO images ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    tuple(columns.values()))


def row(catalog: Catalog, image_id: str):
    return catalog.one("SELECT * FROM images WHERE id = ?", (image_id,))


def test_values_are_the_stored_strings():
    assert [s.value for s in ImageStatus] == ["stored", "accepted", "rejected", "duplicate", "conflict", "unlabelled"]
    assert [s.value for s in LabelSource] == ["manual", "query", "pseudo", "candidate", "none"]
    assert SPLITS == ("train", "val", "test") and Split.TEST == "test"
    assert "candidate" in UNJUDGED_LABELS and "none" in UNJUDGED_LABELS and "query" not in UNJUDGED_LABELS


def test_arrival_status_and_unknown_label_source():
    assert arrival_status("cat", "query") == ImageStatus.STORED
    assert arrival_status("cat", "candidate") == ImageStatus.UNLABELLED
    assert arrival_status(None, "manual") == ImageStatus.UNLABELLED
    with pytest.raises(LifecycleError, match="unknown label source 'qeury'"):
        arrival_status("cat", "qeury")
    assert issubclass(LifecycleError, HarvestError)  # the CLI shows one red line
    assert label_source("pseudo") is LabelSource.PSEUDO


def test_verdicts_write_every_kind_in_one_go(catalog: Catalog):
    for image_id in "abcde":
        add(catalog, image_id, status="accepted", split="val", duplicate_of="zz", reason="old")
    verdicts = Verdicts()
    verdicts.mark_duplicate("a", "near_duplicate", "b", "b")
    verdicts.accept("b", "b", "train")
    verdicts.mark_conflict("c", "label_conflict", "c")
    verdicts.exclude("d", "similar_to_test", "g1")
    verdicts.mark_unlabelled("e", "e")
    with catalog.transaction() as conn:
        record_verdicts(conn, verdicts)
    got = {r["id"]: (r["status"], r["reason"], r["duplicate_of"], r["group_id"], r["split"])
           for r in catalog.all("SELECT * FROM images")}
    assert got == {"a": ("duplicate", "near_duplicate", "b", "b", None),
                   "b": ("accepted", None, None, "b", "train"),
                   "c": ("conflict", "label_conflict", None, "c", None),
                   "d": ("rejected", "similar_to_test", None, "g1", None),
                   "e": ("unlabelled", None, None, "e", None)}


def test_a_verdict_with_an_unknown_split_raises_before_writing(catalog: Catalog):
    with pytest.raises(LifecycleError, match="unknown split 'training'"):
        Verdicts().accept("a", "a", "training")


def test_rejections_keep_what_each_stage_expects(catalog: Catalog):
    add(catalog, "a", status="accepted", split="train", confidence=0.3)
    add(catalog, "b", status="accepted", split="val")
    add(catalog, "c", status="unlabelled", source="candidate")
    add(catalog, "d", status="accepted", split="test")
    with catalog.transaction() as conn:
        reject(conn, "a", "not_an_image")                       # confidence kept
        reject_many(conn, [("b", "likely_off_class", 0.12)])
        reject_labels(conn, [("c", "low_confidence", 0.4, 2)])
        reject_flagged(conn, [("d", "low_information")])        # split left to the judgement
    assert tuple(row(catalog, "a")[k] for k in ("status", "reason", "split", "confidence")) == \
        ("rejected", "not_an_image", None, 0.3)
    assert tuple(row(catalog, "b")[k] for k in ("status", "reason", "split", "confidence")) == \
        ("rejected", "likely_off_class", None, 0.12)
    assert tuple(row(catalog, "c")[k] for k in ("status", "reason", "confidence", "round")) == \
        ("rejected", "low_confidence", 0.4, 2)
    assert tuple(row(catalog, "d")[k] for k in ("status", "reason", "split")) == ("rejected", "low_information", "test")
    assert rejected_by_reason(catalog) == {"not_an_image": 1, "likely_off_class": 1, "low_confidence": 1,
                                           "low_information": 1}
    with catalog.transaction() as conn, pytest.raises(LifecycleError, match="needs a reason"):
        reject(conn, "a", "")


def test_return_for_curation(catalog: Catalog):
    add(catalog, "p", status="rejected", source="candidate", reason="low_confidence", confidence=0.2, round=1)
    add(catalog, "q", status="unlabelled", source="candidate")
    with catalog.transaction() as conn:
        return_for_curation(conn, [("p", "dog", 0.93, 2)], LabelSource.PSEUDO)
        return_for_curation(conn, [("q", "cat", None, 2)], LabelSource.QUERY)
    p, q = row(catalog, "p"), row(catalog, "q")
    assert (p["status"], p["class"], p["label_source"], p["reason"], p["confidence"], p["round"], p["split"]) == \
        ("stored", "dog", "pseudo", None, 0.93, 2, None)
    assert (q["status"], q["class"], q["label_source"], q["round"]) == ("stored", "cat", "query", 2)
    with catalog.transaction() as conn, pytest.raises(LifecycleError, match="needs a label"):
        return_for_curation(conn, [("q", "cat", None, 3)], LabelSource.CANDIDATE)
    assert row(catalog, "q")["round"] == 2  # nothing written


def test_test_split_release_and_pin(catalog: Catalog):
    add(catalog, "crawled", status="accepted", split="test", curated_path="curated/test/cat/crawled.jpg")
    add(catalog, "mine", status="stored", source="manual")
    with catalog.transaction() as conn:
        assert release_test_split(conn) == 1
        pin_test_split(conn, ["https://example.test/mine"])
    crawled, mine = row(catalog, "crawled"), row(catalog, "mine")
    assert (crawled["status"], crawled["split"], crawled["curated_path"]) == ("stored", None, None)
    assert (mine["status"], mine["split"]) == ("stored", "test")


def test_inactive_classes_leave_and_come_back(catalog: Catalog):
    add(catalog, "c1", status="accepted", split="train", cls="cat")
    add(catalog, "d1", status="accepted", split="val", cls="dog")
    add(catalog, "d2", status="rejected", cls="dog", reason="too_small")
    with catalog.transaction() as conn:
        sync_class_images(conn, ["cat"])
    assert (row(catalog, "d1")["status"], row(catalog, "d1")["reason"], row(catalog, "d1")["split"]) == \
        ("rejected", "inactive_class", None)
    assert row(catalog, "d2")["reason"] == "too_small" and row(catalog, "c1")["status"] == "accepted"
    with catalog.transaction() as conn:
        sync_class_images(conn, ["cat", "dog"])
    assert (row(catalog, "d1")["status"], row(catalog, "d1")["reason"]) == ("stored", None)
    assert row(catalog, "d2")["reason"] == "too_small"


def test_counts(catalog: Catalog):
    add(catalog, "a", status="accepted", split="train")
    add(catalog, "b", status="stored")
    add(catalog, "c", status="unlabelled", source="candidate")
    add(catalog, "d", status="accepted", split="val", cls="dog", source="pseudo")
    assert count_in_class(catalog, "cat") == 2
    assert count_in_class(catalog, "cat", (ImageStatus.UNLABELLED,)) == 1
    assert count_per_class(catalog) == {"cat": 2, "dog": 1}
    assert accepted_per_class_and_source(catalog) == {"cat": {"query": 1}, "dog": {"pseudo": 1}}


def test_stage_run_records_start_finish_and_unfinished_runs(catalog: Catalog):
    with stage_run(catalog, "curate", {"size": 64}) as run:
        assert last_params(catalog, "curate") == {"size": 64}
        assert last_params(catalog, "curate", finished=True) is None
        run.set_params({"size": 64, "calibration": {"phash": 8}})
        run.finish({"analysed": 3})
    assert last_params(catalog, "curate", finished=True) == {"size": 64, "calibration": {"phash": 8}}
    with pytest.raises(RuntimeError), stage_run(catalog, "crawl", {}):
        raise RuntimeError("killed")
    assert not has_finished(catalog, "crawl")  # a killed stage stays visible as unfinished
    with pytest.raises(CatalogError, match="ended without"), stage_run(catalog, "crawl", {}):
        pass
    with catalog.transaction() as conn:
        record_finished_run(conn, "clean-labels", {"thresholds": {}}, {"checked": 0})
    assert has_finished(catalog, "clean-labels")


STATUS_WRITE = re.compile(r"UPDATE\s+images\s+SET\b(?P<set>.*?)\bWHERE\b", re.S | re.I)
OWNER = REPO / "workspace" / "images.py"


def status_writers() -> list[str]:
    """Source files (outside tests and the owner) whose SQL assigns `images.status`."""
    found = []
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if path == OWNER or rel.parts[0] in ("tests", ".venv") or "site-packages" in rel.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in STATUS_WRITE.finditer(text):
            if re.search(r"\bstatus\s*=", match.group("set")):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{rel}:{line}")
    return found


def test_only_workspace_images_writes_an_image_status():
    assert status_writers() == [], "write image statuses through workspace.images (a named transition)"


def test_the_status_grep_finds_a_writer(tmp_path: Path):
    sample = 'conn.execute("UPDATE images SET class = ?, status = \'stored\'"\n             " WHERE id = ?", args)'
    assert STATUS_WRITE.search(sample) and re.search(r"\bstatus\s*=", STATUS_WRITE.search(sample).group("set"))
    harmless = 'conn.execute("UPDATE images SET curated_path=NULL WHERE status != \'accepted\'")'
    assert not re.search(r"\bstatus\s*=", STATUS_WRITE.search(harmless).group("set"))


def test_only_workspace_stage_runs_writes_stage_runs():
    writers = []
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0] in ("tests", ".venv") or rel == Path("workspace/stage_runs.py"):
            continue
        if re.search(r"(INSERT\s+INTO|UPDATE)\s+stage_runs\b", path.read_text(encoding="utf-8", errors="replace"), re.I):
            writers.append(str(rel))
    assert writers == [], "record stage runs with workspace.stage_runs.stage_run()"


def test_ingest_refuses_an_unknown_label_source():
    from workspace.storage import IngestMeta

    with pytest.raises(LifecycleError, match="unknown label source 'Query'"):
        IngestMeta(source="https://example.test/a.jpg", class_name="cat", label_source="Query")
