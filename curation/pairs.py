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
from dataclasses import dataclass, field

import numpy as np

from curation.calibrate import CROP_EXTRA, DuplicateRule
from curation.confirm import PixelScore, Similarity, crop_similarities, pixel_similarities
from curation.hash_table import TABLE_CELLS, HashTable
from curation.hashing import BOXES, as_int, distances, is_near_duplicate
from curation.index import HammingIndex
from workspace.images import UNJUDGED_LABELS as UNJUDGED  # a crawl hint or nothing: not a label that can conflict

# (hashes, radius) -> (n, 3) array of [i, j, distance], i < j: a self-join equal to HammingIndex.pairs
PairSearch = Callable[[Sequence[int], int], np.ndarray]
Position = tuple[int, int]

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


@dataclass
class PairScores:
    """The confirming checks' scores of pairs of `items`, each computed once and remembered."""

    items: Sequence
    _pixels: dict[tuple[int, int, bool], PixelScore] = field(default_factory=dict, repr=False)
    _aligned: dict[Position, float] = field(default_factory=dict, repr=False)

    def pixels(self, i: int, j: int, mirrored: bool) -> PixelScore:
        self.score_pixels([(i, j, mirrored)])
        return self._pixels[(i, j, mirrored)]

    def aligned(self, i: int, j: int) -> float:
        self.score_aligned([(i, j)])
        return self._aligned[(i, j)]

    def score_pixels(self, keys: Sequence[tuple[int, int, bool]]) -> None:
        """The pixel scores of many (i, j, mirrored) not scored yet, in batched calls."""
        todo = [key for key in dict.fromkeys(keys) if key not in self._pixels]
        found = pixel_similarities([(self.items[i].thumb, self.items[j].thumb, mirrored) for i, j, mirrored in todo])
        self._pixels.update(zip(todo, found))

    def score_aligned(self, positions: Sequence[Position]) -> None:
        """The aligned crop scores of many pairs not scored yet, in batched calls."""
        todo = [pair for pair in dict.fromkeys(positions) if pair not in self._aligned]
        self._aligned.update(zip(todo, crop_similarities([(self.items[i].thumb, self.items[j].thumb)
                                                          for i, j in todo])))


@dataclass
class Candidates:
    """Candidate pairs searched once, at radii at least as wide as any rule of one curate asks
    for, with one `PairScores`. Calibration's preliminary judgement at the ceiling and the final
    judgement at the calibrated radii (never wider: `curation.calibrate`) take their verdicts from
    the same search and the same scores, so no pair is confirmed twice. A radius wider than was
    searched is searched afresh."""

    items: Sequence
    phash_radius: int
    crop_radius: int
    pair_search: PairSearch | None
    near: dict[Position, int]      # pair -> closest pHash distance (either orientation)
    crops: dict[Position, int]     # pair -> closest box-hash distance
    scores: PairScores
    table: HashTable               # the hashes as arrays, for calibration too

    @classmethod
    def search(cls, items: Sequence, phash_radius: int, crop_radius: int,
               pair_search: PairSearch | None = None) -> Candidates:
        table = HashTable.of(items)
        return cls(items, phash_radius, crop_radius, pair_search, hash_candidates(items, phash_radius, pair_search),
                   crop_candidates(items, crop_radius, table), PairScores(items), table)

    def near_within(self, radius: int) -> dict[Position, int]:
        if radius > self.phash_radius:
            return hash_candidates(self.items, radius, self.pair_search)
        return {pair: d for pair, d in self.near.items() if d <= radius}

    def crops_within(self, radius: int) -> dict[Position, int]:
        if radius > self.crop_radius:
            return crop_candidates(self.items, radius, self.table)
        return {pair: d for pair, d in self.crops.items() if d <= radius}


def ceiling_candidates(items: Sequence, ceiling: int, pair_search: PairSearch | None = None,
                       margin: int = 0) -> Candidates:
    """The candidates of every rule under `ceiling`: pHash within ceiling + 2 (the old rule's
    reach, `find_pairs`) or ceiling + `margin` (`similar_links`), box hashes within ceiling +
    CROP_EXTRA."""
    return Candidates.search(items, ceiling + max(2, margin), ceiling + CROP_EXTRA, pair_search)


def find_pairs(items: Sequence, rule: DuplicateRule, similarity: Similarity | None = None,
               pair_search: PairSearch | None = None, candidates: Candidates | None = None) -> list[Pair]:
    """Every candidate pair with its verdict (pairs that are neither confirmed nor possible are dropped).
    `candidates` (searched at least as wide as `rule`) share their search and scores with other rules."""
    radius = max(rule.ceiling + 2, rule.phash_radius)
    if candidates is None:
        near, crops = hash_candidates(items, radius, pair_search), crop_candidates(items, rule.crop_radius)
        scores = PairScores(items)
    else:
        near, crops = candidates.near_within(radius), candidates.crops_within(rule.crop_radius)
        scores = candidates.scores
    found = [evidence(items, i, j, crops.get((i, j)), rule) for i, j in sorted(near.keys() | crops.keys())]
    if similarity is None:
        _score_ahead(items, found, rule, scores)
    out = []
    for seen in found:
        pair = verdict(items, seen, rule, similarity, scores)
        if pair is not None:
            out.append(pair)
    return out


def _score_ahead(items: Sequence, found: list[Evidence], rule: DuplicateRule, scores: PairScores) -> None:
    """The scores the verdicts of `found` will ask for, made in batches (curation.confirm's
    `*_similarities`: the floats of one pair at a time, without numpy's per-call cost for each):
    the pixel scores, then the aligned crop scores of the pairs the pixels did not confirm."""
    looked = [seen for seen in found if _looks_at_pixels(items[seen.i], items[seen.j], seen, rule)]
    scores.score_pixels([(seen.i, seen.j, seen.mirrored) for seen in looked])
    scores.score_aligned([(seen.i, seen.j) for seen in looked if seen.crop_check is not None
                          and not _pixel_route(scores.pixels(seen.i, seen.j, seen.mirrored), seen, rule)])


def hash_candidates(items: Sequence, radius: int, pair_search: PairSearch | None = None) -> dict[Position, int]:
    """Position pairs whose pHash (either orientation) is within `radius`, with the closest such
    distance; `pair_search` replaces the local index's self-join (the band join of
    `cluster.band_join` returns the same pairs)."""
    hashes = [as_int(i.hashes.phash) for i in items] + [as_int(i.hashes.phash_flip) for i in items]
    found = pair_search(hashes, radius) if pair_search else HammingIndex(hashes, radius_hint=radius).pairs(radius)
    found = np.asarray(found, dtype=np.int64).reshape(-1, 3)
    first, second = found[:, 0] % len(items), found[:, 1] % len(items)  # hash k belongs to item k mod n
    other = first != second
    low, high = np.minimum(first, second)[other], np.maximum(first, second)[other]
    pairs: dict[Position, int] = {}
    for i, j, distance in zip(low.tolist(), high.tolist(), found[other, 2].tolist()):
        if distance < pairs.get((i, j), 65):
            pairs[(i, j)] = distance
    return pairs


def crop_candidates(items: Sequence, radius: int, table: HashTable | None = None) -> dict[Position, int]:
    """Position pairs of one class (or both unjudged) where one image's whole pHash is within
    `radius` of a box of the other, with the closest such distance. Searched class by class (the
    crop route only confirms within a class): a small class in the table of every box against
    every pHash (`table`'s, shared with calibration), a large one through the Hamming index."""
    blocks: dict[str | None, list[int]] = {}
    for k, item in enumerate(items):
        if len(item.crops) == BOXES:
            blocks.setdefault(label(item), []).append(k)
    found: dict[Position, int] = {}
    for members in blocks.values():
        if len(members) < 2:
            continue
        ids = np.array(members, dtype=np.int64)
        if len(members) ** 2 <= TABLE_CELLS:
            table = table if table is not None else HashTable.of(items)
            first, second, distance = _crops_by_table(table.box_table(ids), radius)
        else:
            first, second, distance = _crops_by_index([items[k] for k in members], radius)
        low, high = np.minimum(ids[first], ids[second]), np.maximum(ids[first], ids[second])
        for i, j, d in zip(low.tolist(), high.tolist(), distance.tolist()):
            if d < found.get((i, j), 65):
                found[(i, j)] = d
    return found


def _crops_by_table(table: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, second, distance) of a block, from its table of every box against every pHash."""
    nearest = np.minimum(table, table.T)
    first, second = np.nonzero(nearest <= radius)  # then i < j: the order of np.triu's, without its copy
    upper = first < second
    first, second = first[upper], second[upper]
    return first, second, nearest[first, second]


def _crops_by_index(block: Sequence, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same from the Hamming index (compiled at scale): every box queried against the pHashes."""
    index = HammingIndex([as_int(item.hashes.phash) for item in block], radius_hint=radius)
    hits = index.matches([box for item in block for box in item.crops], radius)
    owner = hits[:, 0] // BOXES                              # the image each box belongs to
    keep = owner != hits[:, 1]
    return owner[keep], hits[keep, 1], hits[keep, 2]


@dataclass(frozen=True)
class Evidence:
    """What the hashes say about the pair of positions (i, j), before any pixel is compared."""

    i: int
    j: int
    phash_distance: int
    dhash_distance: int
    mirrored: bool                 # the pHash matched b's mirror
    same_label: bool               # no conflict possible: one class, or an unjudged image
    crop_distance: int | None      # the closest box-hash distance, for a crop candidate
    crop_check: int | None         # ... where the crop route applies (same class, within the radius)


def evidence(items: Sequence, i: int, j: int, crop_distance: int | None, rule: DuplicateRule) -> Evidence:
    a, b = items[i], items[j]
    p, d, mirrored = distances(a.hashes, b.hashes)
    same_label = label(a) is None or label(b) is None or label(a) == label(b)
    in_crop = crop_distance is not None and crop_distance <= rule.crop_radius
    return Evidence(i, j, p, d, mirrored, same_label, crop_distance, crop_distance if in_crop and same_label else None)


def verdict(items: Sequence, seen: Evidence, rule: DuplicateRule, similarity: Similarity | None,
            scores: PairScores) -> Pair | None:
    a, b = items[seen.i], items[seen.j]
    route, score = _confirm(a, b, seen, rule, similarity, scores)
    in_crop = seen.crop_distance is not None and seen.crop_distance <= rule.crop_radius
    if route:
        kind = "near_duplicate" if seen.same_label else "conflict"
    elif is_near_duplicate(a.hashes, b.hashes, rule.ceiling) or in_crop:
        kind, route = "possible_duplicate", "unconfirmed"
    else:
        return None
    return Pair(seen.i, seen.j, kind, route, seen.phash_distance, seen.dhash_distance, seen.crop_distance, score)


def _confirm(a, b, seen: Evidence, rule: DuplicateRule, similarity: Similarity | None,
             scores: PairScores) -> tuple[str | None, float | None]:
    """(route, score): the route that confirmed the pair, or None and the best score seen."""
    cosine = similarity(a.id, b.id) if similarity else None
    if cosine is not None:
        close = seen.phash_distance <= rule.phash_radius or seen.crop_check is not None
        return ("embedding" if close and cosine >= rule.embedding_threshold else None), cosine
    if not _looks_at_pixels(a, b, seen, rule):
        return None, None  # nothing could confirm it: no need to look at the pixels
    pixels = scores.pixels(seen.i, seen.j, seen.mirrored)
    route = _pixel_route(pixels, seen, rule)
    if route:
        return route, pixels.trimmed
    score = pixels.trimmed
    if seen.crop_check is not None:
        aligned = scores.aligned(seen.i, seen.j)
        if aligned >= rule.crop_bar_at(seen.crop_check):
            return "crop", aligned
        score = max(score, aligned)
    return None, score


def _looks_at_pixels(a, b, seen: Evidence, rule: DuplicateRule) -> bool:
    """Whether the pixel check could confirm the pair: both have thumbnails, and the pHash is
    within the radius or the crop route applies."""
    return bool(a.thumb and b.thumb) and (seen.phash_distance <= rule.phash_radius or seen.crop_check is not None)


def _pixel_route(pixels: PixelScore, seen: Evidence, rule: DuplicateRule) -> str | None:
    """The route if the pixel scores confirm a pair whose pHash is within the radius: the bars
    are a little lower when dHash is within its radius too."""
    if seen.phash_distance > rule.phash_radius:
        return None
    relax = rule.agree_margin if seen.dhash_distance <= rule.dhash_radius else 0.0
    if pixels.full >= rule.pixel_threshold - relax or pixels.trimmed >= rule.trimmed_threshold - relax:
        return "hashes+pixels" if relax else "pixels"
    return None


def similar_links(items: Sequence, rule: DuplicateRule, margin: int, pair_search: PairSearch | None = None,
                  candidates: Candidates | None = None) -> list[Position]:
    """Look-alikes that should share a split (burst shots): both hashes within their calibrated
    radius plus `margin`."""
    radius = rule.phash_radius + margin
    near = candidates.near_within(radius) if candidates else hash_candidates(items, radius, pair_search)
    out = []
    for i, j in sorted(near):
        p, d, _ = distances(items[i].hashes, items[j].hashes)
        if p <= rule.phash_radius + margin and d <= rule.dhash_radius + margin:
            out.append((i, j))
    return out

