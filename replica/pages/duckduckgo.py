"""DuckDuckGo Images look-alike: a page with a vqd token whose script renders tiles from
/i.js JSON pages (results[].image/thumbnail/url/width/height/title and `next`)."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from replica.pages import PageContext, Response, attr, document, html_response, json_response

STYLE = ".tile--img{display:block;width:180px;height:150px;margin:4px}"
SCRIPT = """(function () {
  var tiles = document.getElementById('tiles'), busy = false;
  var q = tiles.getAttribute('data-query');
  var nextUrl = 'i.js?o=json&q=' + encodeURIComponent(q) + '&vqd=' + encodeURIComponent(vqd) + '&s=0&p=1';
  function esc(s) {
    var d = document.createElement('div'); d.textContent = s == null ? '' : s; return d.innerHTML;
  }
  function tile(r) {
    return '<div class="tile tile--img has-detail"><div class="tile--img__media">' +
      '<span class="tile--img__media__i"><img class="tile--img__img js-lazyload" data-src="' +
      esc(r.thumbnail) + '" alt="' + esc(r.title) + '"></span></div><a class="tile--img__sub" href="' +
      esc(r.url) + '"><span class="tile--img__title">' + esc(r.title) + '</span></a>' +
      '<span class="tile--img__dimensions">' + r.width + ' &times; ' + r.height + '</span></div>';
  }
  function load() {
    if (busy || !nextUrl) return;
    busy = true;
    fetch('/' + nextUrl).then(function (r) { return r.json(); }).then(function (d) {
      (d.results || []).forEach(function (r) { tiles.insertAdjacentHTML('beforeend', tile(r)); });
      nextUrl = d.next || null; busy = false;
    }, function () { busy = false; });
  }
  window.addEventListener('scroll', function () {
    if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 300) load();
  });
  load();
})();"""


def search_page(ctx: PageContext) -> Response:
    body = (f'<div id="header_wrapper"><form id="search_form"><input id="search_form_input" name="q" '
            f'value="{attr(ctx.query)}"></form></div><div class="zci-wrap"><div class="tile-wrap">'
            f'<div class="zci__main zci__main--tiles js-gallery-tiles" id="tiles" '
            f'data-query="{attr(ctx.query)}"></div></div></div>'
            f'<script type="text/javascript">DDG = window.DDG || {{}}; vqd="{ctx.vqd}";</script>')
    return html_response(document(f"{ctx.query} at DuckDuckGo", body, SCRIPT, STYLE))


def results_json(ctx: PageContext) -> Response:
    if ctx.params.get("vqd") != ctx.vqd:
        return html_response("<h1>403 Forbidden</h1><p>invalid vqd</p>", status=403)
    start = ctx.int_param("s", 0)
    chunk = ctx.items[start:start + ctx.per_page]
    results = [{
        "height": item.height, "width": item.width, "title": item.title, "source": "Replica",
        "image": ctx.url(item.full_path if item.has_full else item.thumb_path),
        "image_token": item.token, "thumbnail": ctx.url(item.thumb_path),
        "thumbnail_token": item.token[::-1], "url": ctx.url(item.source_path),
    } for item in chunk]
    data = {"ads": None, "query": ctx.query, "queryEncoded": escape(ctx.query),
            "response_type": "images", "results": results, "vqd": {ctx.query: ctx.vqd}}
    if start + ctx.per_page < len(ctx.items):
        data["next"] = "i.js?" + urlencode({"q": ctx.query, "o": "json", "p": 1,
                                            "s": start + ctx.per_page, "u": "bing", "f": ",,,",
                                            "l": "us-en", "vqd": ctx.vqd})
    return json_response(data)
