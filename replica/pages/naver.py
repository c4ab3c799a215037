"""Naver Images look-alike: /search.naver?where=image with `var imageSearchTabData= {...}` JSON
(content.items[].originalUrl/orgWidth/orgHeight), thumbnail tiles that open a viewer on click,
and infinite scroll that appends the next block (tiles plus its own data script)."""

from __future__ import annotations

import json
from html import escape

from replica.pages import PageContext, Response, attr, document, html_response

STYLE = (".tile_item{display:block;width:180px;height:150px;margin:4px}"
         "._viewer{display:none;position:fixed;top:0;left:0;background:#000}")
SCRIPT = """(function () {
  var grid = document.querySelector('._grid'), box = document.querySelector('.photo_group');
  var next = +box.getAttribute('data-next'), total = +box.getAttribute('data-total');
  var query = box.getAttribute('data-query'), busy = false;
  function load() {
    if (busy || next > total) return;
    busy = true;
    fetch('/search.naver?where=image&query=' + encodeURIComponent(query) + '&start=' + next +
          '&mode=fragment').then(function (r) { return r.text(); }).then(function (t) {
      var n = (t.match(/class="tile_item/g) || []).length;
      grid.insertAdjacentHTML('beforeend', t); next += n || (total + 1); busy = false;
    }, function () { busy = false; });
  }
  window.addEventListener('scroll', function () {
    if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 300) load();
  });
  grid.addEventListener('click', function (e) {
    var tile = e.target.closest('.tile_item');
    if (!tile) return;
    var viewer = document.querySelector('._viewer');
    viewer.querySelector('img').src = tile.getAttribute('data-original');
    viewer.style.display = 'block';
  });
})();"""


def block(ctx: PageContext, start: int) -> str:
    chunk = ctx.items[start - 1:start - 1 + ctx.per_page]
    items = [{
        "title": item.title, "desc": "tags: {photo} } and \"quotes\"",
        "originalUrl": ctx.url(item.full_path) if item.has_full else "",
        "orgWidth": item.width, "orgHeight": item.height, "thumb": ctx.url(item.thumb_path),
        "link": ctx.url(item.source_path), "imageId": item.token,
    } for item in chunk]
    data = {"meta": {"query": ctx.query, "start": start},
            "content": {"start": start, "total": len(ctx.items), "items": items}}
    tiles = "".join(
        f'<div class="tile_item _item" data-original="{attr(i["originalUrl"] or i["thumb"])}">'
        f'<a class="thumb _thumb" role="button"><img class="_image _listImage" src="{attr(i["thumb"])}" '
        f'alt="{attr(i["title"])}"></a></div>' for i in items)
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return f'{tiles}<script type="text/javascript">var imageSearchTabData= {payload};</script>'


def search_page(ctx: PageContext) -> Response:
    start = ctx.int_param("start", 1, minimum=1)
    if ctx.params.get("mode") == "fragment":
        return html_response(block(ctx, start) if start <= len(ctx.items) else "")
    body = (f'<div id="main_pack"><h2>{escape(ctx.query)}</h2>'
            f'<div class="photo_group _listGrid" data-next="{start + ctx.per_page}" '
            f'data-total="{len(ctx.items)}" data-query="{attr(ctx.query)}">'
            f'<div class="photo_tile _grid">{block(ctx, start)}</div></div></div>'
            f'<div class="viewer _viewer"><img class="_viewerImage" src="" alt=""></div>')
    return html_response(document(f"{ctx.query} : Naver Image Search", body, SCRIPT, STYLE))
