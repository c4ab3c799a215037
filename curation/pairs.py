"""Which pairs of images are duplicates: candidates from the hash indexes, then a verdict.

Candidates: pHash (image or mirror) within the larger of the calibrated radius and the old
hash-only rule's reach (`ceiling` + 2), and crops: a whole-image pHash within the crop radius of
one of the other image's box hashes. Each candidate gets a verdict:

- near_duplicate / conflict (confirmed): pHash within the calibrated radius and the pixel check
  agreeing (`pixel_threshold` or `trimmed_threshold`, a little lower when dHash is within its
  radius too: route `hashes+pixels`), or,
  for two images of the same class, the aligned crop check (`crop_threshold`); an embedding
  cosine replaces the pixel score where a `Similarity` lookup has features for both images.
  Across two judged classes a confirmed pair is a conflict.
- possible_duplicate: hash-close (the old rule at the ceiling, or within the crop radius) but not
  confirmed. Both images stay; the pair is recorded for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from curation.calibrate import DuplicateRule
from curation.confirm import Similarity, crop_similarity, pixel_similarity
from curation.hashing import BOXES, as_int, distances, is_near_duplicate
from curation.index import HammingIndex
from workspace.images import UNJUDGED_LABELS as UNJUDGED  # a crawl hint or nothing: not a label that can conflict

# (hashes, radius) -> (n, 3) array of [i, j, distance], i < j: a self-join equal to HammingIndex.pairs
PairSearch = Callable[[Sequence[int], int], np.ndarray]

CONFIRMED = ("near_duplicate", "conflict")


@dataclass(frozen=True)
class Pair:
    a: int                          # positions in the item list, a < b
    b: int
    kind: str                       # near_duplicate | conflict | possible_duplicate
    route: str                      # pixels | hashes+pixels | crop | embedding | unconfirmed
    phash_distance: int
    dhash_distance: int
    crop_distance: int | None
    score: float | None

    @property
    def confirmed(self) -> bool:
        return self.kind in CONFIRMED


def label(item) -> str | None:
    """The class that counts for conflicts: None for unjudged images."""
    return item.class_name if item.class_name and item.label_source not in UNJUDGED else None


def find_pairs(items: Sequence, rule: DuplicateRule, similarity: Similarity | None = None,
               pair_search: PairSearch | None = None) -> list[Pair]:
    """Every candidate pair with its verdict (pairs that are neither confirmed nor possible are dropped)."""
    near = hash_candidates(items, max(rule.ceiling + 2, rule.phash_radius), pair_search)
    crops = crop_candidates(items, rule.crop_radius)
    out = []
    for i, j in sorted(near | set(crops)):
        pair = verdict(items, i, j, crops.get((i, j)), rule, similarity)
        if pair is not None:
            out.append(pair)
    return out


def hash_candidates(items: Sequence, radius: int, pair_search: PairSearch | None = None) -> set[tuple[int, int]]:
    """Position pairs whose pHash (either orientation) is within `radius`; `pair_search` replaces
    the local index's self-join (the band join of `cluster.band_join` returns the same pairs)."""
    hashes = [as_int(i.hashes.phash) for i in items] + [as_int(i.hashes.phash_flip) for i in items]
    owners = list(range(len(items))) * 2
    found = pair_search(hashes, radius) if pair_search else HammingIndex(hashes, radius_hint=radius).pairs(radius)
    pairs = set()
    for a, b, _ in found:
        i, j = owners[a], owners[b]
        if i != j:
            pairs.add((min(i, j), max(i, j)))
    return pairs


def crop_candidates(items: Sequence, radius: int) -> dict[tuple[int, int], int]:
    """Position pairs of one class (or both unjudged) where one image's whole pHash is within
    `radius` of a box of the other, with that distance. Searched class by class: the crop route
    only confirms within a class, and small blocks are compared directly (fast)."""
    blocks: dict[str | None, list[int]] = {}
    for k, item in enumerate(items):
        if len(item.crops) == BOXES:
            blocks.setdefault(label(item), []).append(k)
    found: dict[tuple[int, int], int] = {}
    for members in blocks.values():
        if len(members) < 2:
            continue
        index = HammingIndex([as_int(items[k].hashes.phash) for k in members], ids=members, radius_hint=radius)
        queries = [(k, box) for k in members for box in items[k].crops]
        for (owner, _), hits in zip(queries, index.search_many([box for _, box in queries], radius)):
            for other, distance in hits:
                if other != owner:
                    key = (min(owner, other), max(owner, other))
                    found[key] = min(found.get(key, 64), distance)
    return found


def verdict(items: Sequence, i: int, j: int, crop_distance: int | None, rule: DuplicateRule,
            similarity: Similarity | None) -> Pair | None:
    a, b = items[i], items[j]
    p, d, mirrored = distances(a.hashes, b.hashes)
    same_label = label(a) is None or label(b) is None or label(a) == label(b)
    in_crop = crop_distance is not None and crop_distance <= rule.crop_radius
    route, score = _confirm(a, b, p, d, mirrored, crop_distance if in_crop and same_label else None, rule, similarity)
    if route:
        kind = "near_duplicate" if same_label else "conflict"
    elif is_near_duplicate(a.hashes, b.hashes, rule.ceiling) or in_crop:
        kind, route = "possible_duplicate", "unconfirmed"
    else:
        return None
    return Pair(i, j, kind, route, p, d, crop_distance, score)


def _confirm(a, b, p: int, d: int, mirrored: bool, crop_distance: int | None, rule: DuplicateRule,
             similarity: Similarity | None) -> tuple[str | None, float | None]:
    """(route, score): the route that confirmed the pair, or None and the best score seen.
    `crop_distance` is given only where the crop route applies (same class, within the radius)."""
    crop_ok = crop_distance is not None
    cosine = similarity(a.id, b.id) if similarity else None
    if cosine is not None:
        close = p <= rule.phash_radius or crop_ok
        return ("embedding" if close and cosine >= rule.embedding_threshold else None), cosine
    if not (a.thumb and b.thumb) or (p > rule.phash_radius and not crop_ok):
        return None, None  # nothing could confirm it: no need to look at the pixels
    pixels = pixel_similarity(a.thumb, b.thumb, mirrored)
    score = pixels.trimmed
    if p <= rule.phash_radius:
        relax = rule.agree_margin if d <= rule.dhash_radius else 0.0
        if pixels.full >= rule.pixel_threshold - relax or pixels.trimmed >= rule.trimmed_threshold - relax:
            return ("hashes+pixels" if relax else "pixels"), score
    if crop_ok:
        aligned = crop_similarity(a.thumb, b.thumb)
        if aligned >= rule.crop_bar_at(crop_distance):
            return "crop", aligned
        score = max(score, aligned)
    return None, score


def similar_links(items: Sequence, rule: DuplicateRule, margin: int,
                  pair_search: PairSearch | None = None) -> list[tuple[int, int]]:
    """Look-alikes that should share a split (burst shots): both hashes within their calibrated
    radius plus `margin`."""
    out = []
    for i, j in sorted(hash_candidates(items, rule.phash_radius + margin, pair_search)):
        p, d, _ = distances(items[i].hashes, items[j].hashes)
        if p <= rule.phash_radius + margin and d <= rule.dhash_radius + margin:
            out.append((i, j))
    return out

