"""How close do *unrelated* images of this data set hash? The radius follows from the answer.

A fixed radius suits natural photos, where unrelated pictures sit ~29 bits apart, but centred
objects on plain backgrounds (products, X-rays, digits, logos) hash close by chance. So before
deciding, `calibrate` measures the chance rate on a null sample of pairs: pairs from different
classes where there are at least two (a labelled set rarely holds the same picture under two
classes), otherwise random pairs minus those inside a group of copies (a preliminary, looser
judgement at the ceiling: a folder may be full of copies, which are not chance). For pHash and
dHash it picks the largest radius, up to the ceiling (`--threshold`; dHash +6), at which the
expected chance candidates stay within `BUDGET_PER_1000` per 1,000 images; the box hashes for
crops get the same budget for the candidates the aligned check would still confirm (a measured
share of chance crop candidates, never counted as zero). A candidate must then pass the
confirming check (curation.confirm) before anything is discarded, so expected chance discards are
far below one per 1,000 images.

Below `MIN_IMAGES` there are too few pairs to measure a rate: a conservative radius is used and
the calibration says so. The rates that matter (~1e-5) are too small to count reliably, and a
few true copies left in the sample would pass for chance; so rates are counted only from an
anchor radius where at least `ANCHOR_RATE` of the sample falls, and extrapolated log-linearly
below it with the slope measured just above it (which overestimates a thinning tail).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from curation.confirm import crop_similarities
from curation.hash_table import HashTable
from workspace.images import UNJUDGED_LABELS as UNJUDGED

if TYPE_CHECKING:  # curation.pairs imports this module
    from curation.pairs import Candidates

BUDGET_PER_1000 = 5.0           # expected chance candidate pairs per 1,000 images, per hash
PAIRS_PER_1000 = 1000 * 999 / 2
MIN_IMAGES = 50
NULL_PAIRS = 2_000_000
MIN_COUNT = 20                  # the anchor needs at least this many pairs ...
ANCHOR_RATE = 1e-4              # ... and at least this share of the sample
FALLBACK = {"phash": 6, "dhash": 8, "crop": 6}
DHASH_EXTRA = 6                 # dHash may sit this much further than pHash's ceiling
CROP_EXTRA = 2                  # ... and a box hash this much (the old rule's pHash leeway)
PIXEL_SAME = 0.98               # a null pair this alike (pixels) is a copy, not chance
CROP_SAME = 0.95                # ... or this alike after aligning a crop
CROP_NULL = 200                 # unrelated crop candidates checked to credit the aligned check
CROP_BAR = (0.95, 0.99)         # the aligned-crop bar: photo-like data ... low-variance data
CROP_BAR_SPAN = 4               # radius shortfall (bits below the ceiling) that moves it to the top


@dataclass(frozen=True)
class DuplicateRule:
    """Radii (bits) and confirmation thresholds of the duplicate judgement."""

    phash_radius: int
    dhash_radius: int
    crop_radius: int
    ceiling: int                      # --threshold: no radius exceeds it; the old rule's radius
    pixel_threshold: float = 0.98     # correlation of the 32x32 thumbnails (clipped pixels out) ...
    trimmed_threshold: float = 0.993  # ... or the same with the worst 10 % of pixels dropped
    agree_margin: float = 0.01        # both lowered by this when pHash and dHash both agree
    crop_threshold: float = 0.985     # best aligned, trimmed crop correlation (16x16), same class only
    embedding_threshold: float = 0.95  # cosine, where a Similarity lookup has features
    crop_step: float = 0.005          # the crop bar rises by this per box-hash bit beyond ceiling - 2

    def crop_bar_at(self, distance: int) -> float:
        """A looser box-hash match needs a closer pixel match."""
        return min(0.995, self.crop_threshold + self.crop_step * max(0, distance - (self.ceiling - 2)))


@dataclass(frozen=True)
class Calibration:
    rule: DuplicateRule
    images: int
    null: str                          # cross_class | random | none
    null_pairs: int
    chance_rate: dict[str, float] = field(default_factory=dict)        # per hash, at its radius
    chance_per_1000: dict[str, float] = field(default_factory=dict)    # expected pairs per 1,000 images
    crop_pass_share: float = 1.0       # share of chance crop candidates the aligned check passes
    fallback: bool = False
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line for summaries: radii and the measured chance rates."""
        r = self.rule
        radii = f"pHash {r.phash_radius}, dHash {r.dhash_radius}, crop {r.crop_radius} bits (ceiling {r.ceiling})"
        if self.fallback:
            return f"duplicate radius {radii}: {self.note}"
        rates = ", ".join(f"{k} {v:.1e}" for k, v in self.chance_rate.items())
        return (f"duplicate radius {radii}; chance rate of unrelated pairs {rates} "
                f"({self.null_pairs:,} {self.null.replace('_', '-')} pairs)")


def calibrate(items: Sequence, ceiling: int, seed: int = 0, candidates: Candidates | None = None) -> Calibration:
    """The rule for `items` (curation.dedupe.DedupeItem): radii from their own chance rates. Its
    radii never exceed the ceiling's (pHash `ceiling`, dHash + DHASH_EXTRA, crop + CROP_EXTRA:
    `choose_radius` stops at those limits, the fallback takes the smaller), so `candidates`
    searched at the ceiling (curation.pairs.ceiling_candidates) serve the final judgement too."""
    n = len(items)
    if n < MIN_IMAGES:
        rule = DuplicateRule(min(FALLBACK["phash"], ceiling), min(FALLBACK["dhash"], ceiling + DHASH_EXTRA),
                             min(FALLBACK["crop"], ceiling), ceiling)
        return Calibration(rule, n, "none", 0, fallback=True,
                           note=f"only {n} images, too few to measure a chance rate (needs {MIN_IMAGES}):"
                                f" conservative radius used")
    kind, first, second = null_pairs(items, np.random.default_rng(seed))
    table = candidates.table if candidates is not None else HashTable.of(items)
    dist = {"phash": table.phash_distance(first, second), "dhash": table.dhash_distance(first, second),
            "crop": table.crop_distance(first, second)}
    if kind == "random":  # a folder may hold many copies: leave out whole groups of them
        group = copy_groups(items, ceiling, candidates)
        keep = group[first] != group[second]
    else:  # copies across classes (conflicts) are rare and barely move the anchored estimate
        keep = np.ones(first.size, dtype=bool)
    first, second = first[keep], second[keep]
    dist = {name: values[keep] for name, values in dist.items()}
    limits = {"phash": ceiling, "dhash": ceiling + DHASH_EXTRA, "crop": ceiling + CROP_EXTRA}
    radius, rate = {}, {}
    for name in ("phash", "dhash"):
        radius[name], rate[name] = choose_radius(dist[name], limits[name])
    bar = crop_bar(radius["phash"], ceiling)
    low_variance = bar >= CROP_BAR[1]  # objects of one class align by chance: no credit for the check
    share = 1.0 if low_variance else crop_pass_share(items, first, second, dist["crop"], bar)
    radius["crop"], rate["crop"] = choose_radius(dist["crop"], limits["crop"], share)
    rule = DuplicateRule(radius["phash"], radius["dhash"], radius["crop"], ceiling, crop_threshold=bar)
    per_1000 = {name: value * PAIRS_PER_1000 for name, value in rate.items()}
    return Calibration(rule, n, kind, int(first.size), rate, per_1000, crop_pass_share=share)


def crop_pass_share(items: Sequence, first: np.ndarray, second: np.ndarray, crop_distance: np.ndarray,
                    bar: float) -> float:
    """Share of unrelated crop-like pairs (the CROP_NULL with the nearest box hashes, however
    near: a small set has few within the radius) that the aligned check would confirm, counted
    with one pass added (so never zero)."""
    closest = [k for k in nearest(crop_distance, CROP_NULL) if crop_distance[k] < 64]
    checked = [k for k in closest if items[first[k]].thumb and items[second[k]].thumb]
    scores = crop_similarities([(items[first[k]].thumb, items[second[k]].thumb) for k in checked])
    passes = sum(score >= bar for score in scores)
    return (passes + 1) / (len(checked) + 1)


def nearest(values: np.ndarray, count: int) -> np.ndarray:
    """Positions of the `count` smallest values, ties in position order: the head of a stable
    argsort, without sorting all 2M null pairs."""
    if values.size <= count:
        return np.argsort(values, kind="stable")
    bound = np.partition(values, count - 1)[count - 1]
    within = np.flatnonzero(values <= bound)
    return within[np.argsort(values[within], kind="stable")][:count]


def crop_bar(phash_radius: int, ceiling: int) -> float:
    """The aligned-crop score a pair must beat. Where the chance rate forced the pHash radius
    below the ceiling (centred objects on plain backgrounds), objects of one class also align
    well by chance, so the bar rises from its floor to its top over CROP_BAR_SPAN bits."""
    low, high = CROP_BAR
    shortfall = min(1.0, max(0, ceiling - phash_radius) / CROP_BAR_SPAN)
    return round(low + (high - low) * shortfall, 4)


def choose_radius(distances: np.ndarray, limit: int, confirm_share: float = 1.0) -> tuple[int, float]:
    """Largest radius <= limit whose estimated chance rate (times the share of chance candidates
    a check would still confirm) keeps within the budget, and that rate."""
    if distances.size == 0:
        return 0, float("nan")
    rates = chance_rates(distances) * confirm_share
    budget = BUDGET_PER_1000 / PAIRS_PER_1000
    best = -1
    for r in range(limit + 1):
        if rates[r] <= budget:
            best = r
    best = max(best, 0)
    return best, float(rates[best] / confirm_share)


def chance_rates(distances: np.ndarray) -> np.ndarray:
    """Estimated P(distance <= r) for r = 0..64: counted from the anchor radius up, extrapolated
    log-linearly below it."""
    counts = np.cumsum(np.bincount(distances.astype(np.int64), minlength=65))[:65].astype(np.float64)
    total = float(distances.size)
    rates = counts / total
    anchored = np.nonzero((counts >= MIN_COUNT) & (rates >= ANCHOR_RATE))[0]
    if anchored.size == 0:
        return np.maximum(rates, 1.0 / total)  # nothing countable: no better than one in the sample
    r0 = int(anchored[0])
    r1 = min(64, r0 + 4)
    slope = np.clip(np.log(counts[r1] / counts[r0]) / max(1, r1 - r0), np.log(1.5), np.log(8.0))
    below = np.arange(r0)
    rates[below] = rates[r0] * np.exp(-slope * (r0 - below))
    return rates


def null_pairs(items: Sequence, rng: np.random.Generator) -> tuple[str, np.ndarray, np.ndarray]:
    """Index pairs (i < j) of the null sample: cross-class where two classes exist, else random."""
    n = len(items)
    labels = np.array([i.class_name if i.class_name and i.label_source not in UNJUDGED else "" for i in items])
    classes = {c for c in labels if c}
    cross = len(classes) >= 2
    if n * (n - 1) // 2 <= NULL_PAIRS:
        first, second = np.triu_indices(n, 1)
    else:
        first = rng.integers(0, n, NULL_PAIRS)
        second = rng.integers(0, n, NULL_PAIRS)
        first, second = np.minimum(first, second), np.maximum(first, second)
        keep = first != second
        first, second = first[keep], second[keep]
    if cross:
        keep = (labels[first] != labels[second]) & (labels[first] != "") & (labels[second] != "")
        if keep.sum() >= 1000:
            return "cross_class", first[keep], second[keep]
    return "random", first, second


def copy_groups(items: Sequence, ceiling: int, candidates: Candidates | None = None) -> np.ndarray:
    """A group label per item: connected components of the pairs confirmed at the ceiling radii
    (with looser pixel bars), so that copies of copies count as related too."""
    from curation.dedupe import UnionFind
    from curation.pairs import find_pairs

    rule = DuplicateRule(ceiling, ceiling + DHASH_EXTRA, ceiling + CROP_EXTRA, ceiling,
                         pixel_threshold=PIXEL_SAME - 0.03, trimmed_threshold=PIXEL_SAME, crop_threshold=CROP_SAME,
                         crop_step=0.0)
    finder = UnionFind(len(items))
    by_sha: dict[str, int] = {}
    for position, item in enumerate(items):
        finder.union(by_sha.setdefault(item.sha256, position), position)
    for pair in find_pairs(items, rule, candidates=candidates):
        if pair.confirmed:
            finder.union(pair.a, pair.b)
    return np.array([finder.find(i) for i in range(len(items))])
