"""What a curate records beside its decisions: which classes are active, the dataset version's
fingerprint, what this run changed, and notes on the split rules for the user."""

from __future__ import annotations

from collections import Counter

from workspace.catalog import Catalog
from workspace.dataset import fingerprint
from workspace.images import ImageStatus, sync_class_images


def image_states(catalog: Catalog) -> dict[str, tuple]:
    return {r["id"]: (r["status"], r["split"]) for r in catalog.all("SELECT id, status, split FROM images")}


def changes(before: dict[str, tuple], after: dict[str, tuple]) -> dict[str, int]:
    """This run's effect: images whose status or split changed, counted by what they are now."""
    counts: Counter[str] = Counter()
    for image_id, (status, split) in after.items():
        if before.get(image_id) != (status, split):
            counts[f"{status} {split}" if status == ImageStatus.ACCEPTED else status] += 1
    return dict(sorted(counts.items()))


def sync_active_classes(catalog: Catalog, class_names: list[str]) -> dict[str, int]:
    """Classes of harvest.json are active; a class removed from it becomes inactive: its images
    leave the dataset (rejected, reason `inactive_class`) but keep their rows and raw files, and
    come back if the class does. Returns the inactive classes with their image rows."""
    with catalog.transaction() as conn:
        for position, name in enumerate(class_names):
            conn.execute("INSERT INTO classes (name, position, active) VALUES (?, ?, 1)"
                         " ON CONFLICT(name) DO UPDATE SET active = 1", (name, position))
        marks = ",".join("?" * len(class_names))
        conn.execute(f"UPDATE classes SET active = 0 WHERE name NOT IN ({marks})", class_names)
        sync_class_images(conn, class_names)
    rows = catalog.all(f"SELECT class, COUNT(*) AS n FROM images WHERE class IS NOT NULL AND class NOT IN ({marks})"
                       " GROUP BY class ORDER BY class", class_names)
    return {r["class"]: r["n"] for r in rows}


def dataset_fingerprint(catalog: Catalog, class_names: list[str], resize_spec: dict) -> str:
    """The version the accepted images make (`workspace.dataset.fingerprint`)."""
    rows = catalog.all("SELECT id, sha256, class, split FROM images WHERE status = ?", (ImageStatus.ACCEPTED,))
    return fingerprint(class_names, resize_spec, ((r["id"], r["sha256"], r["class"], r["split"]) for r in rows))


def split_notes(split: tuple[float, float, float], resplit: bool, previous: dict | None,
                splits: dict[str, dict[str, int]], new_test_classes: tuple[str, ...]) -> tuple[str, ...]:
    """What a changed --split did and did not change, and how to get a test split if there is none."""
    notes = []
    ratios = ",".join(f"{x:g}" for x in split)
    old = tuple(previous.get("split") or ()) if previous else ()
    if old and old != tuple(split) and not resplit:
        notes.append(f"split {ratios} differs from the last curate's {','.join(f'{x:g}' for x in old)}: images that "
                     "already have a split keep it; new images, and classes without test images, follow the new "
                     "ratios (test stays frozen for classes that have it). Run curate --resplit to redo every split.")
    if new_test_classes and previous:
        notes.append(f"classes without test images got a test share now: {', '.join(new_test_classes)}")
    if splits and not any(c.get("test") for c in splits.values()):
        how = ("give test a share, e.g. curate --split 0.8,0.1,0.1" if split[2] <= 0
               else "classes need more images (or groups) to spare one for test")
        notes.append(f"this workspace has no test split (ratios {ratios}); to make one, {how}")
    return tuple(notes)
