"""`report`: DIR/reports/index.html, one self-contained page built from catalog queries.

Every string from the catalog (titles, URLs, file names, class names) is escaped; URLs become
links only when they are http(s); SVG files are never shown as images; a Content-Security-Policy
forbids scripts. Thumbnails (≤128 px JPEG) are written next to the page once.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, ImageOps

from workspace.catalog import Catalog, utc_now
from workspace.dataset import curate_state
from workspace.images import SPLITS
from workspace.layout import Workspace
from workspace.manifest import class_status, engine_yield
from workspace.rounds import RoundDetails

log = logging.getLogger(__name__)

THUMB = 128
SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PER_SHEET = 24
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:6px}.grid figure{margin:0;width:132px;font-size:11px;overflow:hidden}
.grid img{width:128px;height:128px;object-fit:cover;border:2px solid #ccc;border-radius:3px}
.kept img{border-color:#2a2}.dup img{border-color:#d80}.bad img{border-color:#c22}
.whole img{object-fit:contain;background:#eee}.warning{background:#fee;border:2px solid #c22;padding:.5rem 1rem}
td.left{text-align:left}.cluster{border:1px solid #eee;padding:6px;margin:6px 0}.muted{color:#777}
"""


@dataclass(frozen=True)
class Row:
    id: str
    path: str | None
    cls: str | None
    status: str
    reason: str | None
    split: str | None
    label_source: str
    source: str
    duplicate_of: str | None
    group_id: str | None
    format: str | None


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def url_scheme(url: str | None) -> str:
    """Lower-case scheme of a URL; '' for malformed ones (urlsplit raises on e.g. 'http://[::1')."""
    try:
        return urlsplit(url or "").scheme.lower()
    except ValueError:
        return ""


def url_name(url: str) -> str:
    """The last path segment, as a short caption for a long URL or file path."""
    try:
        return Path(urlsplit(url).path).name or url
    except ValueError:
        return url


def safe_link(url: str | None, text: str | None = None) -> str:
    """A link for http(s) URLs only; anything else (javascript:, data:, file:) is plain text."""
    label = esc(text if text is not None else url)
    if url and url_scheme(url) in ("http", "https"):
        return f'<a href="{esc(url)}" rel="noopener noreferrer nofollow">{label}</a>'
    return label


def build_report(ws: Workspace) -> Path:
    ws.reports_dir.mkdir(parents=True, exist_ok=True)
    (ws.reports_dir / "thumbs").mkdir(exist_ok=True)
    with ws.catalog() as catalog:
        problem = curate_state(ws, catalog).problem
        rows = [Row(r["id"], r["path"], r["class"], r["status"], r["reason"], r["split"], r["label_source"],
                    r["source"], r["duplicate_of"], r["group_id"], r["format"])
                for r in catalog.all("SELECT * FROM images ORDER BY added_at, id")]
        sections = [
            f"<p class=warning><b>{esc(problem)}</b>: the counts below are the unfinished curate's</p>"
            if problem else "",
            _summary(ws, catalog, rows),
            _balance(catalog),
            _rejected(ws, rows),
            _calibration(catalog),
            _duplicates(ws, rows),
            _possible(ws, catalog, rows),
            _conflicts(ws, rows),
            _sheets(ws, rows),
            _engines(catalog),
            _rounds(catalog),
            _runs(ws),
        ]
    page = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' data:; "
            f"style-src 'unsafe-inline'\"><title>Harvest report: {esc(ws.root.name)}</title>"
            f"<style>{CSS}</style></head><body><h1>Harvest report: {esc(ws.root.name)}</h1>"
            f"<p class=muted>generated {esc(utc_now()[:19])} UTC from {esc(ws.catalog_path.name)}</p>"
            + "".join(sections) + "</body></html>")
    out = ws.reports_dir / "index.html"
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out


def thumb(ws: Workspace, row: Row) -> str:
    """<img> of a small JPEG copy (made once); a placeholder when there is no usable file."""
    if not row.path or (row.format or "").lower() in ("", "svg") or row.path.lower().endswith((".svg", ".svgz")):
        return '<span class=muted>(no image)</span>'
    if not SAFE_ID.match(row.id):
        return '<span class=muted>(odd id)</span>'
    target = ws.reports_dir / "thumbs" / f"{row.id}.jpg"
    if not target.exists():
        try:
            with Image.open(ws.root / row.path) as image:
                image = ImageOps.exif_transpose(image).convert("RGB")
                image.thumbnail((THUMB, THUMB))
                image.save(target, "JPEG", quality=80)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            log.warning("no thumbnail for %s: %s", row.id, exc)
            return '<span class=muted>(unreadable)</span>'
    return f'<img src="thumbs/{esc(row.id)}.jpg" alt="{esc(row.id)}" loading="lazy">'


def figure(ws: Workspace, row: Row, css: str = "", caption: str | None = None) -> str:
    text = caption if caption is not None else f"{row.cls or '-'} · {row.reason or row.status}"
    return f'<figure class="{css}">{thumb(ws, row)}<figcaption>{esc(text)}<br>{safe_link(row.source, url_name(row.source or ""))}</figcaption></figure>'


def _summary(ws: Workspace, catalog: Catalog, rows: list[Row]) -> str:
    counts = defaultdict(int)
    for r in rows:
        counts[r.status] += 1
    table = "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in sorted(counts.items()))
    return f"<h2 id=summary>Summary</h2><p>{len(rows)} images in the catalog.</p><table><tr><th>status</th><th>images</th></tr>{table}</table>"


def _balance(catalog: Catalog) -> str:
    stats = class_status(catalog)
    head = "<tr><th>class</th><th>stored</th><th>accepted</th><th>train</th><th>val</th><th>test</th><th>duplicates</th><th>conflicts</th><th>rejected</th><th>label sources</th></tr>"
    body = "".join(
        f"<tr><td>{esc(s.name)}</td><td>{s.stored}</td><td>{s.accepted}</td>"
        + "".join(f"<td>{s.splits.get(x, 0)}</td>" for x in SPLITS)
        + f"<td>{s.duplicates}</td><td>{s.conflicts}</td><td>{s.rejected_total}</td>"
        f"<td>{esc(', '.join(f'{k} {v}' for k, v in sorted(s.label_sources.items())))}</td></tr>" for s in stats)
    return f"<h2 id=classes>Classes</h2><table>{head}{body}</table>{bar_chart([(s.name, s.accepted) for s in stats])}"


def bar_chart(values: list[tuple[str, int]], width: int = 640) -> str:
    """Class balance as an inline SVG bar chart (accepted images per class)."""
    if not values:
        return ""
    top = max(v for _, v in values) or 1
    bar = 22
    rows = []
    for i, (name, value) in enumerate(values):
        length = int((width - 220) * value / top)
        y = i * (bar + 6)
        rows.append(f'<text x="0" y="{y + 16}" font-size="13">{esc(name[:24])}</text>'
                    f'<rect x="170" y="{y}" width="{length}" height="{bar}" fill="#4a8"/>'
                    f'<text x="{175 + length}" y="{y + 16}" font-size="12">{value}</text>')
    height = len(values) * (bar + 6)
    return f'<svg role="img" aria-label="accepted images per class" width="{width}" height="{height}">{"".join(rows)}</svg>'


def _rejected(ws: Workspace, rows: list[Row]) -> str:
    by_reason: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.status == "rejected":
            by_reason[r.reason or "unknown"].append(r)
    if not by_reason:
        return "<h2 id=rejected>Rejected</h2><p>Nothing was rejected.</p>"
    parts = []
    for reason, items in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        grid = "".join(figure(ws, r, "bad whole") for r in items[:8])  # uncropped: the shape may be why
        parts.append(f"<h3>{esc(reason)} ({len(items)})</h3><div class=grid>{grid}</div>")
    return "<h2 id=rejected>Rejected, by reason</h2>" + "".join(parts)


def _duplicates(ws: Workspace, rows: list[Row]) -> str:
    by_id = {r.id: r for r in rows}
    clusters: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.status == "duplicate" and r.duplicate_of in by_id:
            clusters[r.duplicate_of].append(r)
    if not clusters:
        return "<h2 id=duplicates>Duplicate clusters</h2><p>No duplicates found.</p>"
    parts = []
    for kept_id, dups in list(clusters.items())[:60]:
        kept = by_id[kept_id]
        grid = figure(ws, kept, "kept", f"kept · {kept.cls or '-'}") + "".join(
            figure(ws, d, "dup", f"{d.reason} · {d.cls or '-'}") for d in dups)
        parts.append(f"<div class=cluster><div class=grid>{grid}</div></div>")
    more = f"<p class=muted>{len(clusters) - 60} more clusters not shown.</p>" if len(clusters) > 60 else ""
    return f"<h2 id=duplicates>Duplicate clusters ({len(clusters)})</h2>" + "".join(parts) + more


def _calibration(catalog: Catalog) -> str:
    """The radii the last curate ran with and the chance rates they came from."""
    row = catalog.one("SELECT params FROM stage_runs WHERE stage='curate' ORDER BY id DESC LIMIT 1")
    try:
        calibration = json.loads(row["params"] or "{}").get("calibration") if row else None
        rule = calibration["rule"]
    except (ValueError, TypeError, KeyError, AttributeError):
        return ""
    rates, per_1000 = calibration.get("chance_rate") or {}, calibration.get("chance_per_1000") or {}
    body = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(rule.get(key))}</td><td>{_rate(rates.get(name))}</td>"
        f"<td>{_rate(per_1000.get(name), '.2f')}</td></tr>"
        for name, key in (("phash", "phash_radius"), ("dhash", "dhash_radius"), ("crop", "crop_radius")))
    if calibration.get("fallback"):
        how = esc(calibration.get("note"))
    else:
        how = (f"Measured on {esc(calibration.get('null_pairs'))} {esc(str(calibration.get('null')).replace('_', '-'))}"
               " pairs of unrelated images.")
    return ("<h2 id=calibration>Duplicate radius</h2>"
            f"<p>{how} Ceiling (<code>--threshold</code>) {esc(rule.get('ceiling'))} bits. A hash-close pair is"
            f" discarded only when the pixel check confirms it (correlation ≥ {esc(rule.get('pixel_threshold'))},"
            f" trimmed ≥ {esc(rule.get('trimmed_threshold'))}; aligned crop ≥ {esc(rule.get('crop_threshold'))}).</p>"
            "<table><tr><th>hash</th><th>radius (bits)</th><th>chance rate of unrelated pairs</th>"
            f"<th>expected chance candidates per 1,000 images</th></tr>{body}</table>")


def _rate(value: object, spec: str = ".1e") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


def _possible(ws: Workspace, catalog: Catalog, rows: list[Row]) -> str:
    """Hash-close pairs the check did not confirm: both images kept, shown for a human to judge."""
    by_id = {r.id: r for r in rows}
    pairs = catalog.all("SELECT * FROM pairs WHERE kind='possible_duplicate'"
                        " ORDER BY phash_distance, score DESC, a, b LIMIT 400")
    total = catalog.scalar("SELECT COUNT(*) FROM pairs WHERE kind='possible_duplicate'") or 0
    if not total:
        return "<h2 id=possible>Possible duplicates</h2><p>None: every hash-close pair was confirmed or cleared.</p>"
    parts = []
    for pair in [p for p in pairs if p["a"] in by_id and p["b"] in by_id][:40]:
        a, b = by_id[pair["a"]], by_id[pair["b"]]
        score = "-" if pair["score"] is None else f"{pair['score']:.3f}"
        detail = f"pHash {pair['phash_distance']} · dHash {pair['dhash_distance']} · pixels {score}"
        grid = figure(ws, a, "", f"{a.cls or '-'} · {a.status}") + figure(ws, b, "", f"{b.cls or '-'} · {b.status}")
        parts.append(f"<div class=cluster><div class=grid>{grid}</div><p class=muted>{esc(detail)}</p></div>")
    more = f"<p class=muted>{total - len(parts)} more pairs not shown.</p>" if total > len(parts) else ""
    return (f"<h2 id=possible>Possible duplicates ({total} pairs)</h2><p>Close by hash but not confirmed by"
            " the pixel check: both images were kept.</p>" + "".join(parts) + more)


def _conflicts(ws: Workspace, rows: list[Row]) -> str:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.status == "conflict":
            groups[r.group_id or r.id].append(r)
    if not groups:
        return "<h2 id=conflicts>Cross-class conflicts</h2><p>None.</p>"
    by_classes: dict[tuple[str, ...], list[list[Row]]] = defaultdict(list)
    for items in groups.values():
        by_classes[tuple(sorted({r.cls or "-" for r in items}))].append(items)
    parts = []
    for classes, clusters in sorted(by_classes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        grids = "".join(f"<div class=cluster><div class=grid>"
                        f"{''.join(figure(ws, r, 'bad', f'{r.cls} ({r.label_source})') for r in items)}</div></div>"
                        for items in clusters[:20])
        parts.append(f"<h3>{esc(' ↔ '.join(classes))} ({len(clusters)})</h3>{grids}")
    table = "".join(f"<tr><td>{esc(' ↔ '.join(c))}</td><td>{len(v)}</td></tr>" for c, v in sorted(by_classes.items()))
    return (f"<h2 id=conflicts>Cross-class conflicts ({len(groups)})</h2><p>The same picture under different classes"
            f" (confirmed by the pixel check): excluded from training until a manual label settles it."
            f" By class pair:</p><table><tr><th>classes</th><th>conflicts</th></tr>{table}</table>{''.join(parts)}")


def _sheets(ws: Workspace, rows: list[Row]) -> str:
    sheets: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.status == "accepted" and r.split:
            sheets[(r.cls or "-", r.split)].append(r)
    if not sheets:
        return "<h2 id=sheets>Contact sheets</h2><p>No curated images yet: run <code>curate</code>.</p>"
    order = {"train": 0, "val": 1, "test": 2}
    parts = []
    for (cls, split), items in sorted(sheets.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9))):
        grid = "".join(figure(ws, r, "", f"{r.label_source}") for r in items[:PER_SHEET])
        more = f"<p class=muted>and {len(items) - PER_SHEET} more</p>" if len(items) > PER_SHEET else ""
        parts.append(f"<h3>{esc(cls)} / {esc(split)} ({len(items)})</h3><div class=grid>{grid}</div>{more}")
    return "<h2 id=sheets>Contact sheets by class and split</h2>" + "".join(parts)


def _engines(catalog: Catalog) -> str:
    yields = engine_yield(catalog)
    if not yields:
        return "<h2 id=engines>Per-engine yield</h2><p>No crawl yet.</p>"
    body = "".join(
        f"<tr><td>{esc(y.engine)}</td><td>{y.found}</td><td>{y.full_resolution_share:.0%}</td><td>{y.downloaded}</td>"
        f"<td>{y.unique}</td><td>{esc(', '.join(f'{k} {v}' for k, v in sorted(y.failed.items())) or '-')}</td></tr>"
        for y in yields)
    return ("<h2 id=engines>Per-engine yield</h2><table><tr><th>engine</th><th>URLs found</th><th>full-res share</th>"
            f"<th>downloaded</th><th>unique</th><th>failed by reason</th></tr>{body}</table>")


def _rounds(catalog: Catalog) -> str:
    rows = catalog.all("SELECT * FROM rounds ORDER BY round")
    if not rows:
        return ""
    body, points = [], []
    for r in rows:
        per_class = RoundDetails.from_json(r["details"]).per_class
        sizes = [sum(v.values()) for v in per_class.values()] or [0]
        mean_size = sum(sizes) / len(sizes)
        sources = defaultdict(int)
        for v in per_class.values():
            for k, n in v.items():
                sources[k] += n
        if r["test_accuracy"] is not None:
            points.append((mean_size, r["test_accuracy"]))
        accuracy = "" if r["test_accuracy"] is None else f"{r['test_accuracy']:.3f}"
        precision = "-" if r["pseudo_precision"] is None else f"{r['pseudo_precision']:.3f}"
        labels = ", ".join(f"{k} {v}" for k, v in sorted(sources.items()))
        by_class = "; ".join(f"{c}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                             for c, counts in sorted(per_class.items()))
        body.append(f"<tr><td>{esc(r['round'])}</td><td>{esc(r['state'])}</td><td>{mean_size:.0f}</td>"
                    f"<td>{esc(labels)}</td><td class=left>{esc(by_class) or '-'}</td><td>{esc(r['accepted'] or 0)}</td>"
                    f"<td>{accuracy}</td><td>{precision}</td></tr>")
    table = ("<table><tr><th>round</th><th>state</th><th>images per class (mean)</th><th>all classes by label source</th>"
             "<th>per class by label source</th><th>new pseudo-labels</th><th>test accuracy</th>"
             "<th>pseudo-label precision</th></tr>" + "".join(body) + "</table>")
    return "<h2 id=rounds>Self-training rounds</h2>" + table + line_chart(points)


def _runs(ws: Workspace) -> str:
    """Seed 003's comparison: one row per training run, read from its folder (workspace.runs)."""
    from workspace.errors import WorkspaceError
    from workspace.runs import list_runs

    try:
        runs = list_runs(ws)
    except WorkspaceError:
        return "<h2 id=runs>Training runs</h2><p>No training run yet.</p>"

    def cell(value: object, pattern: str = "{}") -> str:
        return "" if value is None else esc(pattern.format(value))

    body = "".join(
        f"<tr><td>{esc(r.run)}</td><td colspan=9 class=left>unreadable: {esc(r.problem)}</td></tr>"
        if r.state == "unreadable" else
        f"<tr><td>{esc(r.run)}</td><td class=left>{cell(r.model)}</td><td class=left>{cell(r.weights)}</td>"
        f"<td>{cell(r.image_size)}</td><td>{cell(r.batch_size)}</td><td>{cell(r.epochs_run)}</td>"
        f"<td>{cell(r.seconds, '{:.0f}')}</td><td>{cell(r.images_per_second, '{:.1f}')}</td>"
        f"<td>{cell(r.val_accuracy, '{:.3f}')}</td><td>{cell(r.test_accuracy, '{:.3f}')}</td></tr>"
        for r in runs)
    return ("<h2 id=runs>Training runs</h2><table><tr><th>run</th><th>model</th><th>weights</th><th>image size</th>"
            "<th>batch</th><th>epochs run</th><th>seconds</th><th>train images/s</th><th>val accuracy</th>"
            f"<th>test accuracy</th></tr>{body}</table>")


def line_chart(points: list[tuple[float, float]], width: int = 520, height: int = 260) -> str:
    """Test accuracy against images per class, as an inline SVG."""
    if not points:
        return ""
    pad = 40
    xs = [p[0] for p in points]
    lo, hi = min(xs), max(xs)
    span = (hi - lo) or 1

    def px(x: float, y: float) -> tuple[float, float]:
        return pad + (width - 2 * pad) * (x - lo) / span, height - pad - (height - 2 * pad) * y

    coords = [px(x, y) for x, y in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#c50"/><text x="{x + 6:.1f}" y="{y - 6:.1f}" font-size="11">{a:.2f}</text>'
                   for (x, y), (_, a) in zip(coords, points))
    return (f'<svg role="img" aria-label="test accuracy against images per class" width="{width}" height="{height}">'
            f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#999"/>'
            f'<polyline points="{path}" fill="none" stroke="#c50" stroke-width="2"/>{dots}'
            f'<text x="{width / 2 - 60}" y="{height - 8}" font-size="12">images per class</text>'
            f'<text x="4" y="{pad - 10}" font-size="12">test accuracy</text></svg>')
