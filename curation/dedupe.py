"""Duplicate groups and the rule for which copy is kept.

Exact copies share a sha256; near copies are found with the Hamming index over pHash (the image
and its mirror) and verified with `hashing.is_near_duplicate`. Groups are connected components
(union-find). In each group one image is kept by an explicit rule; the rest point at it.
A group whose images carry different classes is a conflict (excluded from training) unless
manual labels settle it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from curation.hashing import ImageHashes, as_int, is_near_duplicate
from curation.index import HammingIndex

LABEL_RANK = {"manual": 0, "query": 1, "pseudo": 2, "candidate": 3, "none": 4}
UNJUDGED = ("candidate", "none")  # a crawl hint or nothing: not a label that can conflict


@dataclass(frozen=True)
class DedupeItem:
    """What the keep rule and the grouping need to know about one image."""

    id: str
    sha256: str
    hashes: ImageHashes
    class_name: str | None
    label_source: str
    width: int
    height: int
    bytes: int
    added_at: str
    split: str | None = None       # an image already in a split stays the kept one


@dataclass(frozen=True)
class Decision:
    id: str
    status: str                    # kept | duplicate | conflict
    reason: str | None
    duplicate_of: str | None
    group_id: str
    class_name: str | None         # the class the kept image carries (manual may override)


def keep_key(item: DedupeItem) -> tuple:
    """The keep rule, in order: already in a split (stability), manual over query over pseudo
    labels, larger resolution, larger file, earlier added, then id (total order)."""
    return (item.split is None, LABEL_RANK.get(item.label_source, 9), -(item.width * item.height),
            -item.bytes, item.added_at, item.id)


class UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return out


def near_pairs(items: Sequence[DedupeItem], threshold: int, verify_margin: int = 0) -> list[tuple[int, int]]:
    """Index pairs of items that are near duplicates (mirror included), verified."""
    hashes = [as_int(i.hashes.phash) for i in items] + [as_int(i.hashes.phash_flip) for i in items]
    owners = list(range(len(items))) * 2
    index = HammingIndex(hashes, ids=owners, radius_hint=threshold + 2 + verify_margin)
    pairs = set()
    for a, b, _ in index.pairs(threshold + 2 + verify_margin):
        i, j = owners[a], owners[b]
        if i != j:
            pairs.add((min(i, j), max(i, j)))
    return [(i, j) for i, j in sorted(pairs)
            if is_near_duplicate(items[i].hashes, items[j].hashes, threshold + verify_margin)]


def group_items(items: Sequence[DedupeItem], threshold: int, margin: int = 0) -> UnionFind:
    """Connected components over exact (sha256) and near-duplicate links."""
    finder = UnionFind(len(items))
    by_sha: dict[str, int] = {}
    for position, item in enumerate(items):
        if item.sha256 in by_sha:
            finder.union(by_sha[item.sha256], position)
        else:
            by_sha[item.sha256] = position
    for i, j in near_pairs(items, threshold, margin):
        finder.union(i, j)
    return finder


def decide(items: Sequence[DedupeItem], threshold: int) -> list[Decision]:
    """A decision for every item: kept, duplicate of the kept one, or conflict."""
    finder = group_items(items, threshold)
    decisions: list[Decision] = []
    for members in finder.groups().values():
        group = sorted((items[i] for i in members), key=keep_key)
        decisions.extend(decide_group(group))
    return decisions


def decide_group(group: list[DedupeItem]) -> list[Decision]:
    """`group` is sorted by the keep rule; the first item is the candidate to keep."""
    kept = group[0]
    group_id = kept.id
    classes = {i.class_name for i in group if i.class_name is not None and i.label_source not in UNJUDGED}
    manual_classes = {i.class_name for i in group if i.label_source == "manual" and i.class_name}
    if len(classes) > 1 and len(manual_classes) != 1:
        return [Decision(i.id, "conflict", "cross_class_duplicate", None, group_id, i.class_name) for i in group]
    if len(classes) > 1:  # one manual label settles it: keep the best manual copy
        kept = next(i for i in group if i.label_source == "manual")
    elif kept.label_source in UNJUDGED and classes:  # a labelled copy beats an unjudged one
        kept = next(i for i in group if i.label_source not in UNJUDGED)
    out = [Decision(kept.id, "kept", None, None, group_id, kept.class_name)]
    for item in group:
        if item.id == kept.id:
            continue
        reason = "exact_duplicate" if item.sha256 == kept.sha256 else "near_duplicate"
        out.append(Decision(item.id, "duplicate", reason, kept.id, group_id, item.class_name))
    return out


@dataclass(frozen=True)
class DuplicateGroup:
    kept: Path
    duplicates: tuple[Path, ...]


def dedupe_folder(folder: Path, threshold: int = 10) -> tuple[list[DuplicateGroup], list[tuple[Path, str]]]:
    """Duplicate groups among the images under `folder` (kept file first), and unreadable files."""
    import hashlib

    from curation.hashing import image_hashes
    from curation.validate import ValidationLimits, open_normalized
    from curation.errors import Rejected

    items, paths, bad = [], [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            image = open_normalized(path, ValidationLimits(min_side=1, max_aspect=1000), draft=256)
            width, height = header_size(path)
        except Rejected as exc:
            bad.append((path, exc.reason))
            continue
        except OSError as exc:
            bad.append((path, f"unreadable: {exc.strerror or exc}"))
            continue
        items.append(DedupeItem(str(len(items)), hashlib.sha256(data).hexdigest(), image_hashes(image), None,
                                "none", width, height, len(data), f"{len(items):012d}"))
        paths.append(path)
    groups = []
    for decision_group in _grouped(decide(items, threshold)):
        kept = next(d for d in decision_group if d.status == "kept")
        dups = tuple(paths[int(d.id)] for d in decision_group if d.status == "duplicate")
        if dups:
            groups.append(DuplicateGroup(paths[int(kept.id)], dups))
    return groups, bad


def _grouped(decisions: list[Decision]) -> list[list[Decision]]:
    groups: dict[str, list[Decision]] = {}
    for d in decisions:
        groups.setdefault(d.group_id, []).append(d)
    return list(groups.values())


def header_size(path: Path) -> tuple[int, int]:
    """Width and height from the file header (before any draft-mode downscaling)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.size
