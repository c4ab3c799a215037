"""One search and one score per pair (issue 21): calibration's copy groups, the final judgement
and the split's look-alikes take their candidates and pixel/crop scores from one
`curation.pairs.Candidates` searched at the ceiling. On the real photos of ../shared (with their
real duplicates, same bytes and same shots, some across classes, plus planted crops and edits)
the shared path must give exactly what each step searching and scoring on its own gives."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import replace

import pytest
from PIL import Image, ImageEnhance, ImageOps

from curation import confirm, pairs
from curation.calibrate import calibrate
from curation.dedupe import DedupeItem, judge
from curation.hashing import signature, split_crop_hashes
from curation.pairs import Candidates, ceiling_candidates, crop_candidates, hash_candidates, similar_links
from tests.conftest import SHARED_FLOWERS

pytestmark = pytest.mark.slow   # analyses the 1,500 shared photos once (~10 s)

CEILING = 10
MARGIN = 4


def photo_item(id_: str, image: Image.Image, sha256: str, class_name: str | None, label_source: str) -> DedupeItem:
    image = image.copy()
    image.thumbnail((256, 256))
    sig = signature(image)
    return DedupeItem(id_, sha256, sig.hashes, class_name, label_source, *image.size, 1, id_, None,
                      split_crop_hashes(sig.crop_hashes), sig.thumb)


def planted(image: Image.Image, rnd: random.Random) -> list[Image.Image]:
    """A crop (the crop route), a darker copy and a mirror (pixels), as a user's folder has them."""
    w, h = image.size
    cut = rnd.uniform(0.06, 0.12)
    return [image.crop((int(w * cut), int(h * cut / 2), w, h - int(h * cut / 2))),
            ImageEnhance.Brightness(image).enhance(0.8), ImageOps.mirror(image)]


@pytest.fixture(scope="module")
def flower_items() -> list[DedupeItem]:
    """Every shared photo with its class, and copies of 30 of them."""
    if not (SHARED_FLOWERS / "daisy").is_dir():
        pytest.skip(f"real photos not found at {SHARED_FLOWERS} (they live in ../shared beside the repo)")
    flowers_dir = SHARED_FLOWERS
    rnd = random.Random(21)
    files = sorted(flowers_dir.glob("*/*.jpg"))
    sources = set(rnd.sample(files, 30))
    items = []
    for path in files:
        data = path.read_bytes()
        with Image.open(path) as im:
            image = ImageOps.exif_transpose(im).convert("RGB")
        items.append(photo_item(path.stem, image, hashlib.sha256(data).hexdigest(), path.parent.name, "query"))
        if path in sources:
            for n, copy in enumerate(planted(image, rnd)):
                items.append(photo_item(f"{path.stem}-copy{n}", copy, f"planted-{path.stem}-{n}",
                                        path.parent.name, "query"))
    return items


def unlabelled(items: list[DedupeItem]) -> list[DedupeItem]:
    """The same photos as one unjudged folder: the null sample is random pairs, so calibration
    judges the copy groups at the ceiling (the path that used to confirm every pair twice)."""
    return [replace(i, class_name=None, label_source="none") for i in items]


def separately(items: list[DedupeItem]):
    """Today's straightforward path: every step searches and scores on its own."""
    confirm.forget_scores()
    calibration = calibrate(items, CEILING, seed=7)
    judgement = judge(items, calibration.rule)
    return calibration, judgement, similar_links(items, calibration.rule, MARGIN)


def shared(items: list[DedupeItem]):
    confirm.forget_scores()
    candidates = ceiling_candidates(items, CEILING, margin=MARGIN)
    calibration = calibrate(items, CEILING, seed=7, candidates=candidates)
    judgement = judge(items, calibration.rule, candidates=candidates)
    return calibration, judgement, similar_links(items, calibration.rule, MARGIN, candidates=candidates)


def comparable(calibration) -> dict:
    """NaN rates (nothing to measure) compare equal."""
    return {k: ({n: "nan" if math.isnan(v) else v for n, v in value.items()} if isinstance(value, dict)
                and k != "rule" else value) for k, value in calibration.as_dict().items()}


@pytest.mark.parametrize("labels", ["classes", "one_folder"])
def test_shared_candidates_give_identical_pairs_verdicts_scores_and_groups(flower_items, labels) -> None:
    items = flower_items if labels == "classes" else unlabelled(flower_items)
    before_cal, before, before_links = separately(items)
    after_cal, after, after_links = shared(items)
    assert before_cal.null == ("cross_class" if labels == "classes" else "random")
    assert comparable(after_cal) == comparable(before_cal)
    assert after.pairs == before.pairs                      # pairs, kinds, routes, distances, scores
    assert after.decisions == before.decisions              # kept / duplicate / conflict, groups
    assert after_links == before_links
    routes = {p.route for p in before.pairs}
    assert {"crop", "unconfirmed"} <= routes and routes & {"pixels", "hashes+pixels"}, routes  # it has teeth
    assert sum(p.confirmed for p in before.pairs) >= 60
    exact = [d for d in before.decisions if d.reason == "exact_duplicate"]
    assert {d.id for d in exact} & {"14889392928_9742aed45b_m", "15066430311_fb57fa92b0_m"}  # the same bytes


def test_a_wider_radius_than_searched_is_searched_afresh(flower_items) -> None:
    items = flower_items[:400]
    narrow = Candidates.search(items, 4, 4)
    assert narrow.near_within(12) == hash_candidates(items, 12)
    assert narrow.crops_within(12) == crop_candidates(items, 12)
    wide = Candidates.search(items, 12, 12)
    assert wide.near_within(4) == narrow.near == hash_candidates(items, 4)
    assert wide.crops_within(4) == narrow.crops == crop_candidates(items, 4)
    assert len(wide.near) > len(narrow.near) and len(wide.crops) > len(narrow.crops)


@pytest.mark.parametrize("crop_search", ["table", "index"])
def test_candidate_searches_match_their_definition_pair_by_pair(flower_items, crop_search, monkeypatch) -> None:
    """The searches behind every verdict, against their definitions checked on every pair: the
    closest pHash distance over both orientations, and the closest box of either image to the
    other's whole-image pHash (same class only), by the box table and by the Hamming index."""
    if crop_search == "index":
        monkeypatch.setattr(pairs, "TABLE_CELLS", 0)
    items = flower_items[:300] + flower_items[-300:]       # two classes
    phash = [(int(i.hashes.phash, 16), int(i.hashes.phash_flip, 16)) for i in items]
    near, crops = {}, {}
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            p = min((x ^ y).bit_count() for x in phash[a] for y in phash[b])
            if p <= 12:
                near[(a, b)] = p
            if items[a].class_name == items[b].class_name:
                c = min([(box ^ phash[b][0]).bit_count() for box in items[a].crops]
                        + [(box ^ phash[a][0]).bit_count() for box in items[b].crops])
                if c <= 12:
                    crops[(a, b)] = c
    assert hash_candidates(items, 12) == near and len(near) > 10
    assert crop_candidates(items, 12) == crops and len(crops) > 10
