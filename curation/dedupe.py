"""Duplicate groups and the rule for which copy is kept.

Exact copies share a sha256; near copies are the confirmed pairs of `curation.pairs` (hash-close
within the calibrated radius *and* confirmed by a second, independent check). Groups are
connected components (union-find). In each group one image is kept by an explicit rule; the rest
point at it. A group whose images carry different classes is a conflict (excluded from training)
unless manual labels settle it. Unconfirmed pairs discard nothing: they come back as
`possible_duplicate` pairs for the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from curation.calibrate import Calibration, DuplicateRule, calibrate
from curation.confirm import Similarity
from curation.hashing import ImageHashes
from curation.pairs import UNJUDGED, Candidates, Pair, PairSearch, ceiling_candidates, find_pairs
from workspace.images import LabelSource

LABEL_RANK = {LabelSource.MANUAL: 0, LabelSource.QUERY: 1, LabelSource.PSEUDO: 2, LabelSource.CANDIDATE: 3,
              LabelSource.NONE: 4}


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
    crops: tuple[int, ...] = ()    # the box pHashes (curation.hashing.crop_hashes)
    thumb: bytes | None = None     # 32x32 grey thumbnail for the pixel check


@dataclass(frozen=True)
class Decision:
    id: str
    status: str                    # kept | duplicate | conflict
    reason: str | None
    duplicate_of: str | None
    group_id: str
    class_name: str | None         # the class the kept image carries (manual may override)


@dataclass(frozen=True)
class Judgement:
    decisions: list[Decision]
    pairs: list[Pair]              # confirmed and possible pairs (positions in the item list)


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


def judge(items: Sequence[DedupeItem], rule: DuplicateRule, similarity: Similarity | None = None,
          pair_search: PairSearch | None = None, candidates: Candidates | None = None) -> Judgement:
    """A decision for every item (kept, duplicate of the kept one, or conflict) and the pairs;
    `candidates` are the ones calibration already searched and scored."""
    pairs = find_pairs(items, rule, similarity, pair_search, candidates)
    finder = UnionFind(len(items))
    by_sha: dict[str, int] = {}
    for position, item in enumerate(items):
        if item.sha256 in by_sha:
            finder.union(by_sha[item.sha256], position)
        else:
            by_sha[item.sha256] = position
    for pair in pairs:
        if pair.confirmed:
            finder.union(pair.a, pair.b)
    decisions: list[Decision] = []
    for members in finder.groups().values():
        group = sorted((items[i] for i in members), key=keep_key)
        decisions.extend(decide_group(group))
    return Judgement(decisions, pairs)


def decide(items: Sequence[DedupeItem], rule: DuplicateRule, similarity: Similarity | None = None) -> list[Decision]:
    return judge(items, rule, similarity).decisions


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


@dataclass(frozen=True)
class FolderResult:
    groups: list[DuplicateGroup]
    unreadable: list[tuple[Path, str]]
    calibration: Calibration
    possible: list[tuple[Path, Path]]     # hash-close pairs the check did not confirm (both kept)


def dedupe_folder(folder: Path, threshold: int = 10) -> FolderResult:
    """Duplicate groups among the images under `folder` (kept file first), by the same calibrated
    rule as `curate`, and the files that could not be read."""
    import hashlib

    from curation.errors import Rejected
    from curation.hashing import signature, split_crop_hashes
    from curation.validate import ValidationLimits
    from curation.workers import open_for_analysis

    items, paths, bad = [], [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            image, (width, height) = open_for_analysis(path, ValidationLimits(min_side=1, max_aspect=1000))
        except Rejected as exc:
            bad.append((path, exc.reason))
            continue
        except OSError as exc:
            bad.append((path, f"unreadable: {exc.strerror or exc}"))
            continue
        sig = signature(image)
        items.append(DedupeItem(str(len(items)), hashlib.sha256(data).hexdigest(), sig.hashes, None, "none",
                                width, height, len(data), f"{len(items):012d}", None,
                                split_crop_hashes(sig.crop_hashes), sig.thumb))
        paths.append(path)
    candidates = ceiling_candidates(items, threshold)
    calibration = calibrate(items, threshold, candidates=candidates)
    judgement = judge(items, calibration.rule, candidates=candidates)
    groups = []
    for decision_group in _grouped(judgement.decisions):
        kept = next(d for d in decision_group if d.status == "kept")
        dups = tuple(paths[int(d.id)] for d in decision_group if d.status == "duplicate")
        if dups:
            groups.append(DuplicateGroup(paths[int(kept.id)], dups))
    possible = [(paths[p.a], paths[p.b]) for p in judgement.pairs if p.kind == "possible_duplicate"]
    return FolderResult(groups, bad, calibration, possible)


def _grouped(decisions: list[Decision]) -> list[list[Decision]]:
    groups: dict[str, list[Decision]] = {}
    for d in decisions:
        groups.setdefault(d.group_id, []).append(d)
    return list(groups.values())

