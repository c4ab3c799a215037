"""A generic gallery page for the `page` engine: plain <img>, srcset, lazy data-src with a
placeholder, and thumbnails linking to the full image file."""

from __future__ import annotations

from replica.pages import PageContext, Response, attr, document, html_response
from replica.results import ReplicaItem

PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="


def figure(ctx: PageContext, item: ReplicaItem, position: int) -> str:
    full, thumb = ctx.url(item.full_path), ctx.url(item.thumb_path)
    if not item.has_full:
        image = f'<img src="{attr(thumb)}" alt="{attr(item.title)}">'
    elif position % 4 == 0:
        image = (f'<img src="{attr(full)}" width="{item.width}" height="{item.height}" '
                 f'alt="{attr(item.title)}">')
    elif position % 4 == 1:
        image = (f'<img src="{attr(thumb)}" srcset="{attr(thumb)} 160w, {attr(full)} {item.width}w" '
                 f'sizes="(max-width: 600px) 160px, {item.width}px" alt="{attr(item.title)}">')
    elif position % 4 == 2:
        image = f'<img class="lazy" src="{PIXEL}" data-src="{attr(full)}" alt="{attr(item.title)}">'
    else:
        image = f'<a href="{attr(full)}"><img src="{attr(thumb)}" alt="{attr(item.title)}"></a>'
    return f'<figure class="photo">{image}<figcaption>{attr(item.title)}</figcaption></figure>'


def gallery_page(ctx: PageContext) -> Response:
    figures = "".join(figure(ctx, item, i) for i, item in enumerate(ctx.items))
    return html_response(document(f"Gallery: {ctx.query}", f'<main class="gallery">{figures}</main>'))


def source_page(ctx: PageContext, item: ReplicaItem) -> Response:
    """The "source page" every result links to: the image on a plain page."""
    src = ctx.url(item.full_path if item.has_full else item.thumb_path)
    return html_response(document(item.title, f'<article><img src="{attr(src)}" alt=""></article>'))
