"""Bing Images look-alike: /images/search with a.iusc[m] results and /images/async fragments
loaded by infinite scroll, plus a "See more images" button every third load."""

from __future__ import annotations

import json
from html import escape

from crawler.engines.bing import ASYNC_PATH, MORE_CLASS, RESULT_CLASS, SEARCH_PATH
from replica.pages import PageContext, Response, attr, document, html_response
from replica.results import ReplicaItem

STYLE = (".dgControl_list{list-style:none;padding:0}.dgControl_list li{display:block;"
         "width:180px;height:150px;margin:4px}.mm_seemore{display:none;text-align:center}")
SCRIPT = """(function () {
  var box = document.getElementById('mmComponent_images_1');
  var list = box.querySelector('ul.dgControl_list'), more = document.querySelector('.mm_seemore');
  var next = +box.getAttribute('data-nextfirst'), query = box.getAttribute('data-query');
  var count = +box.getAttribute('data-count'), busy = false, done = false, loads = 0;
  function load() {
    if (busy || done) return;
    busy = true;
    fetch('%(async_path)s?q=' + encodeURIComponent(query) + '&first=' + next + '&count=' + count +
          '&mmasync=1').then(function (r) { return r.text(); }).then(function (t) {
      var n = (t.match(/class="%(result_class)s"/g) || []).length;
      if (n === 0) { done = true; } else { list.insertAdjacentHTML('beforeend', t); next += n; loads++; }
      busy = false;
      more.style.display = (!done && loads %% 3 === 0) ? 'block' : 'none';
    }, function () { busy = false; });
  }
  window.addEventListener('scroll', function () {
    if (more.style.display === 'block') return;
    if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 300) load();
  });
  more.querySelector('a').addEventListener('click', function (e) {
    e.preventDefault(); more.style.display = 'none'; load();
  });
})();""" % {"async_path": ASYNC_PATH, "result_class": RESULT_CLASS}


def result_item(ctx: PageContext, item: ReplicaItem, position: int) -> str:
    meta = {"cid": item.token[:8], "purl": ctx.url(item.source_path), "turl": ctx.url(item.thumb_path),
            "md5": item.token, "shkey": "", "t": item.title, "mid": "", "desc": ""}
    if item.has_full:
        meta["murl"] = ctx.url(item.full_path)
    return (f'<li data-idx="{position}"><div class="iuscp isv"><div class="imgpt">'
            f'<a class="{RESULT_CLASS}" style="height:120px;width:160px" m="{attr(json.dumps(meta))}" '
            f'href="{SEARCH_PATH}?view=detailV2&amp;id={item.token}">'
            f'<div class="img_cont hoff"><img class="mimg" src="{attr(meta["turl"])}" '
            f'alt="{attr(item.title)}" height="120" width="160"></div></a>'
            f'<div class="img_info hon"><span class="nowrap">{item.width} x {item.height} · jpeg'
            f'</span></div></div></div></li>')


def page_items(ctx: PageContext, first: int, count: int) -> str:
    chunk = ctx.items[first - 1:first - 1 + count]
    return "".join(result_item(ctx, item, first + i) for i, item in enumerate(chunk))


def search_page(ctx: PageContext) -> Response:
    first = ctx.int_param("first", 1, minimum=1)
    listing = page_items(ctx, first, ctx.per_page)
    shown = listing.count(f'class="{RESULT_CLASS}"')
    body = (f'<div id="b_content"><h1>{escape(ctx.query)}</h1>'
            f'<div id="mmComponent_images_1" class="dgControl" data-nextfirst="{first + shown}" '
            f'data-count="{ctx.per_page}" data-query="{attr(ctx.query)}">'
            f'<ul class="dgControl_list">{listing}</ul></div>'
            f'<div class="mm_seemore"><a class="{MORE_CLASS}" href="#">See more images</a></div></div>')
    return html_response(document(f"{ctx.query} - Search Images", body, SCRIPT, STYLE))


def async_page(ctx: PageContext) -> Response:
    first = ctx.int_param("first", 1, minimum=1)
    count = min(ctx.int_param("count", ctx.per_page, minimum=1), 150)
    return html_response(page_items(ctx, first, count))
