"""Google Images look-alike: /search?tbm=isch tiles linking to /imgres?imgurl=..&imgrefurl=..,
infinite scroll for two blocks, then a "Show more results" button. As on Google, only the first
tiles carry their /imgres href in the markup; the others get it on mousedown, from tile data."""

from __future__ import annotations

import json
from html import escape
from urllib.parse import urlencode

from replica.pages import PageContext, Response, attr, document, html_response

STYLE = ".isv-r{display:block;width:180px;height:150px;margin:4px}.YstHxe{display:none}"
PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="
SCRIPT = """(function () {
  var grid = document.querySelector('.islrc'), box = document.getElementById('islrg');
  var next = +box.getAttribute('data-next'), total = +box.getAttribute('data-total');
  var query = box.getAttribute('data-query'), busy = false, loads = 0;
  var more = document.querySelector('.YstHxe');
  function load() {
    if (busy || next >= total) return;
    busy = true;
    fetch('/search?q=' + encodeURIComponent(query) + '&tbm=isch&async=1&start=' + next)
      .then(function (r) { return r.text(); }).then(function (t) {
        var n = (t.match(/class="isv-r/g) || []).length;
        grid.insertAdjacentHTML('beforeend', t); next += n || total; loads++; busy = false;
        more.style.display = (next < total && loads % 2 === 0) ? 'block' : 'none';
      }, function () { busy = false; });
  }
  window.addEventListener('scroll', function () {
    if (more.style.display === 'block') return;
    if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 300) load();
  });
  more.querySelector('input').addEventListener('click', function () { more.style.display = 'none'; load(); });
  grid.addEventListener('mousedown', function (e) {
    var a = e.target.closest('a[data-tile]');
    if (!a || a.getAttribute('href')) return;
    var id = a.getAttribute('data-tile'), blocks = document.querySelectorAll('script.tile-data');
    for (var i = 0; i < blocks.length; i++) {
      var d = JSON.parse(blocks[i].textContent)[id];
      if (d) {
        a.setAttribute('href', '/imgres?imgurl=' + encodeURIComponent(d.u) + '&imgrefurl=' +
                       encodeURIComponent(d.r) + '&tbnid=' + id + '&w=' + d.w + '&h=' + d.h);
        return;
      }
    }
  });
})();"""
EAGER_LINKS = 4  # tiles whose /imgres href is in the markup; later ones need a mousedown


def tiles(ctx: PageContext, start: int) -> str:
    out, data = [], {}
    for position, item in enumerate(ctx.items[start:start + ctx.per_page], start):
        thumb = ctx.url(item.thumb_path)
        image = (f'<img class="rg_i Q4LuWd" src="{PIXEL}" data-src="{attr(thumb)}" alt="">' if position < 4
                 else f'<img class="rg_i Q4LuWd" src="{attr(thumb)}" alt="">')
        if not item.has_full:
            out.append(f'<div class="isv-r PNCib MSM1fd" data-id="{item.token}"><div class="bRMDJf islir">'
                       f'{image}</div><div class="WGvvNb">{escape(item.title)}</div></div>')
            continue
        full, source = ctx.url(item.full_path), ctx.url(item.source_path)
        href = ""
        if position < EAGER_LINKS:
            query = urlencode({"imgurl": full, "imgrefurl": source, "tbnid": item.token,
                               "docid": item.token[::-1], "w": item.width, "h": item.height})
            href = f' href="{attr("/imgres?" + query)}"'
        else:
            data[item.token] = {"u": full, "r": source, "w": item.width, "h": item.height}
        out.append(f'<div class="isv-r PNCib MSM1fd" data-id="{item.token}"><a class="wXeWr islib nfEiy" '
                   f'jsname="sTFXNd" role="button" data-tile="{item.token}"{href}>'
                   f'<div class="bRMDJf islir">{image}</div></a>'
                   f'<a class="VFACy kGQAp" href="{attr(source)}">'
                   f'<div class="WGvvNb">{escape(item.title)}</div></a></div>')
    payload = json.dumps(data).replace("</", "<\\/")
    return "".join(out) + f'<script type="application/json" class="tile-data">{payload}</script>'


def search_page(ctx: PageContext) -> Response:
    start = ctx.int_param("start", 0)
    if ctx.params.get("async") == "1":
        return html_response(tiles(ctx, start))
    body = (f'<div id="islrg" data-next="{start + ctx.per_page}" data-total="{len(ctx.items)}" '
            f'data-query="{attr(ctx.query)}"><div class="islrc">{tiles(ctx, start)}</div></div>'
            f'<div class="YstHxe"><input class="mye4qd" type="button" value="Show more results"></div>')
    return html_response(document(f"{ctx.query} - Google Search", body, SCRIPT, STYLE))


def imgres_page(ctx: PageContext) -> Response:
    """Where a click on a result lands: the full image beside its source link."""
    full, source = ctx.params.get("imgurl", ""), ctx.params.get("imgrefurl", "")
    return html_response(document("Google Images", f'<img src="{attr(full)}"><a href="{attr(source)}">'
                                                   "Visit</a>"))
