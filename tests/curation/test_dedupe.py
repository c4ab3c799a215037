"""Dedupe: the keep rule, conflicts, and recall/precision on transformed copies of real photos."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from curation.calibrate import DuplicateRule, calibrate
from curation.dedupe import DedupeItem, decide, judge, keep_key
from curation.hashing import ImageHashes, image_hashes, signature, split_crop_hashes

H = ImageHashes("0" * 16, "f" * 16, "0" * 16, "f" * 16)
THUMB = bytes(range(256)) * 4          # a gradient: the same picture for every synthetic item
RULE = DuplicateRule(10, 16, 10, 10)


def item(id_: str, label: str = "query", cls: str | None = "a", size=(100, 100), nbytes=1000,
         added="2026-01-01", sha=None, split=None) -> DedupeItem:
    return DedupeItem(id_, sha or id_, H, cls, label, size[0], size[1], nbytes, added, split, (), THUMB)


def test_keep_rule_order() -> None:
    candidates = [
        item("late", added="2026-03-01"),
        item("early", added="2026-01-01"),
        item("bigfile", nbytes=5000),
        item("bigger", size=(200, 200)),
        item("manual", label="manual", size=(10, 10)),
        item("pseudo", label="pseudo", size=(900, 900)),
    ]
    ranked = [i.id for i in sorted(candidates, key=keep_key)]
    assert ranked[:4] == ["manual", "bigger", "bigfile", "early"]
    assert ranked.index("pseudo") > ranked.index("late")
    # an image already in a split stays the kept one, whatever else arrives
    assert sorted([item("new", label="manual"), item("old", split="test")], key=keep_key)[0].id == "old"


def test_group_decisions_duplicates_and_conflicts() -> None:
    decisions = {d.id: d for d in decide([item("q1"), item("q2", size=(300, 300))], RULE)}
    assert decisions["q2"].status == "kept"
    assert decisions["q1"].status == "duplicate" and decisions["q1"].duplicate_of == "q2"
    decisions = {d.id: d for d in decide([item("a1", cls="a"), item("b1", cls="b")], RULE)}
    assert {d.status for d in decisions.values()} == {"conflict"}
    assert decisions["a1"].reason == "cross_class_duplicate"
    decisions = {d.id: d for d in decide([item("a1", cls="a"), item("b1", cls="b", label="manual")], RULE)}
    assert decisions["b1"].status == "kept" and decisions["a1"].status == "duplicate"


def test_hash_close_but_different_pixels_is_only_a_possible_duplicate() -> None:
    other = bytes(reversed(THUMB))  # the same hashes, a different picture
    a, b = item("a1", cls="a"), DedupeItem("b1", "b1", H, "b", "query", 100, 100, 1000, "2026-01-01", None, (), other)
    judgement = judge([a, b], RULE)
    assert {d.status for d in judgement.decisions} == {"kept"}, "nothing is discarded without confirmation"
    assert [(p.kind, p.route) for p in judgement.pairs] == [("possible_duplicate", "unconfirmed")]


def test_an_embedding_lookup_replaces_the_pixel_check_where_it_has_features() -> None:
    other = bytes(reversed(THUMB))
    a, b = item("a1"), DedupeItem("a2", "a2", H, "a", "query", 100, 100, 1000, "2026-01-01", None, (), other)
    seen = []

    def cosine(x: str, y: str) -> float | None:
        seen.append((x, y))
        return 0.99

    confirmed = judge([a, b], RULE, similarity=cosine)
    assert seen and [(p.kind, p.route) for p in confirmed.pairs] == [("near_duplicate", "embedding")]
    assert judge([a, b], RULE, similarity=lambda x, y: None).pairs[0].kind == "possible_duplicate"
    assert judge([a, b], RULE, similarity=lambda x, y: 0.5).pairs[0].kind == "possible_duplicate"


def analysed(id_: str, image: Image.Image, added: str) -> DedupeItem:
    image = image.copy()
    image.thumbnail((256, 256))
    sig = signature(image)
    return DedupeItem(id_, f"sha-{id_}", sig.hashes, None, "none", *image.size, 1, added, None,
                      split_crop_hashes(sig.crop_hashes), sig.thumb)


def transforms(image: Image.Image, rnd: random.Random) -> dict[str, Image.Image]:
    w, h = image.size
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=30)
    cw, ch = int(w * 0.08 * rnd.random()), int(h * 0.08 * rnd.random())
    left, top = rnd.randint(0, cw), rnd.randint(0, ch)
    overlay = image.copy()
    ImageDraw.Draw(overlay).text((4, h - 16), "(c) stock 2026", fill=(255, 255, 255))
    return {
        "resize": image.resize((w // 2, h // 2)),
        "jpeg30": Image.open(io.BytesIO(jpeg.getvalue())).convert("RGB"),
        "crop": image.crop((left, top, w - (cw - left), h - (ch - top))),
        "brighter": ImageEnhance.Brightness(image).enhance(1.2),
        "darker": ImageEnhance.Brightness(image).enhance(0.8),
        "overlay": overlay,
        "flip": ImageOps.mirror(image),
        "gray": ImageOps.grayscale(image).convert("RGB"),
    }


@pytest.mark.slow
def test_near_duplicates_of_real_photos_found_without_false_merges(flowers_dir: Path) -> None:
    rnd = random.Random(11)
    files = sorted(flowers_dir.glob("*/*.jpg"))
    originals = rnd.sample(files, 40)
    items, truth = [], {}
    for n, path in enumerate(files):
        with Image.open(path) as im:
            image = ImageOps.exif_transpose(im).convert("RGB")
        items.append(analysed(f"o{n}", image, f"{n:06d}"))
        if path in originals:
            for name, copy in transforms(image, rnd).items():
                copy_id = f"c{n}-{name}"
                items.append(analysed(copy_id, copy, f"z{n:06d}"))
                truth[copy_id] = f"o{n}"
    decisions = {d.id: d for d in decide(items, calibrate(items, 10).rule)}
    group = {d.id: d.group_id for d in decisions.values()}
    found = sum(group[c] == group[o] for c, o in truth.items())
    recall = found / len(truth)
    # precision: copies grouped with originals they do not come from
    wrong = sum(1 for c, o in truth.items() for other in truth.values()
                if other != o and group[c] == group[other]) / 8
    assert recall >= 0.93, recall
    assert wrong <= 2, wrong
