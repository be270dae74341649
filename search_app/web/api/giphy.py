"""GIPHY's v1 dialect under /v1/: /gifs/search, /gifs/trending, /gifs/{id} and /gifs?ids=,
in GIPHY's shapes (data, pagination, meta with status, msg and response_id), mapped to the
same SearchRequest as every face; no second search. /gifs/related?gif_id= is "more like
this". /gifs/categories (the collection's
themes, each with its GIF and no subcategories), /gifs/search/tags (completion of a
prefix) and /tags/related/{term} (related searches) answer from the collection and this
machine's past searches.

What a collection doesn't have is left out, not invented: no rating, user, source or
import date; a rendition's width and height are left out for a GIF whose bytes were never
seen. Accepted and ignored: rating, lang, bundle, fields, random_id, pingback_id, country
(a collection has no ratings, one language, and nothing is tracked).
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, Path, Query, Request

from search_app.records import SearchHit, StoredGif
from search_app.retrieval.engine import HitList, hit_of
from search_app.retrieval.request import (
    DEFAULT_K,
    GIF_ID_PATTERN,
    MAX_K,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    FrontEnd,
    SearchRequest,
)
from search_app.web.api.context import (
    ApiContext,
    ApiError,
    Media,
    gif_in_path,
    media_of,
    page_url,
)
from search_app.web.api.faces import face_app
from search_app.web.api.media import GifFile

PREFIX = "/v1"
MAX_IDS = 100
TAGS_DEFAULT_K = 5  # GIPHY's default for search tags and related terms
FULL_RENDITIONS = ("original", "downsized", "downsized_large")  # the GIF itself
SMALL_RENDITIONS = ("fixed_width", "fixed_width_small", "preview_gif")  # thumbnails
limit_query = partial(Query, DEFAULT_K[FrontEnd.GIPHY], ge=1, le=MAX_K)
offset_query = partial(Query, 0, ge=0, le=MAX_OFFSET)
key_query = partial(
    Query, None, max_length=200, description="the API key, when the server sets keys"
)


def meta(status: int = 200, message: str = "OK") -> dict[str, Any]:
    """GIPHY's meta object; every answer has its own response_id (the official client
    refuses an answer without one)."""
    return {"status": status, "msg": message, "response_id": uuid.uuid4().hex}


def render_error(error: ApiError) -> dict[str, Any]:
    """GIPHY's error shape: empty data and the status in meta (its client reads meta.msg)."""
    return {"data": [], "meta": meta(error.status, error.message)}


def rendition(url: str, width: int, height: int, size: int | None) -> dict[str, str]:
    """One rendition: GIPHY writes numbers as strings; unknown ones are left out."""
    found = {"url": url}
    if width and height:
        found["width"], found["height"] = str(width), str(height)
    if size is not None:
        found["size"] = str(size)
    return found


def images_of(media: Media) -> dict[str, dict[str, str]]:
    """The renditions: the GIF itself under the full names, the small rendition (a web
    GIF: itself again) under the thumbnail names."""
    full = rendition(media.url, media.width, media.height, media.size)
    small = rendition(media.small_url, media.small_width, media.small_height, media.small_size)
    return {**dict.fromkeys(FULL_RENDITIONS, full), **dict.fromkeys(SMALL_RENDITIONS, small)}


def gif_object(gif: SearchHit | StoredGif, base: str, file: GifFile | None) -> dict[str, Any]:
    """A GIF in GIPHY's shape; title and alt_text are its best description."""
    hit = gif if isinstance(gif, SearchHit) else hit_of(gif)
    return {
        "type": "gif",
        "id": hit.gif_id,
        "slug": hit.gif_id,
        "url": page_url(base, hit.gif_id),
        "title": hit.description,
        "alt_text": hit.description,
        "images": images_of(media_of(hit, base, file)),
    }


def pagination(count: int, offset: int, has_more: bool = False) -> dict[str, int]:
    """GIPHY's pagination of a page of count items from offset. total_count is exact on
    the last page; before it, one more than this page reaches (a ranked search has no
    fixed count), so a client pages on."""
    reached = offset + count
    return {"total_count": reached + 1 if has_more else reached, "count": count, "offset": offset}


def page_of(
    gifs: list[Any], offset: int, has_more: bool, base: str, ctx: ApiContext
) -> dict[str, Any]:
    """A page of GIFs in GIPHY's shape."""
    files = ctx.files(gifs)
    data = [gif_object(gif, base, files.get(gif.gif_id)) for gif in gifs]
    return {"data": data, "pagination": pagination(len(data), offset, has_more), "meta": meta()}


def names_page(names: list[str], offset: int) -> dict[str, Any]:
    """Search terms in GIPHY's shape (data of names, pagination, meta)."""
    data = [{"name": name} for name in names]
    return {"data": data, "pagination": pagination(len(names), offset), "meta": meta()}


def build_giphy(context: ApiContext) -> FastAPI:
    """The GIPHY dialect's app (mounted at /v1)."""
    app = face_app(context, render_error, openapi_url=None, docs_url=None, redoc_url=None)

    def base_of(request: Request) -> str:
        return str(request.base_url).removesuffix(PREFIX + "/").rstrip("/") + "/"

    @app.get("/gifs/search")
    def search(
        request: Request,
        q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)] = "",
        limit: int = limit_query(),
        offset: int = offset_query(),
        api_key: str | None = key_query(),
    ) -> dict[str, Any]:
        context.check_key(api_key)
        hits: HitList = context.search(SearchRequest(q, limit, offset))
        return page_of(list(hits), offset, hits.has_more, base_of(request), context)

    @app.get("/gifs/trending")
    def trending(
        request: Request,
        limit: int = limit_query(),
        offset: int = offset_query(),
        api_key: str | None = key_query(),
    ) -> dict[str, Any]:
        context.check_key(api_key)
        hits = context.featured(limit, offset)
        return page_of(list(hits), offset, hits.has_more, base_of(request), context)

    @app.get("/gifs")
    def gifs(
        request: Request,
        ids: Annotated[str, Query(max_length=MAX_IDS * 33)],
        api_key: str | None = key_query(),
    ) -> dict[str, Any]:
        context.check_key(api_key)
        wanted = [part.strip() for part in ids.split(",") if part.strip()]
        if not wanted or len(wanted) > MAX_IDS:
            raise ApiError(400, f"ids: give 1 to {MAX_IDS} GIF ids, comma-separated")
        found = context.gifs(wanted)
        return page_of(list(found), 0, False, base_of(request), context)

    @app.get("/gifs/related")
    def related_gifs(
        request: Request,
        gif_id: Annotated[str, Query(pattern=f"^{GIF_ID_PATTERN.pattern}$")],
        limit: int = limit_query(),
        offset: int = offset_query(),
        api_key: str | None = key_query(),
    ) -> dict[str, Any]:
        context.check_key(api_key)
        with gif_in_path("Not Found: no GIF with this id in the collection"):
            hits = context.search(SearchRequest("", limit, offset, like=gif_id))
        return page_of(list(hits), offset, hits.has_more, base_of(request), context)

    @app.get("/gifs/categories")
    def categories(request: Request, api_key: str | None = key_query()) -> dict[str, Any]:
        context.check_key(api_key)
        found = [(category, gif) for category, gif in context.categories() if gif is not None]
        files, base = context.files([gif for _, gif in found]), base_of(request)
        data = [
            {
                "name": category.name,
                "name_encoded": quote(category.search_term),
                "subcategories": [],
                "gif": gif_object(gif, base, files.get(gif.gif_id)),
            }
            for category, gif in found
        ]
        return {"data": data, "pagination": pagination(len(data), 0), "meta": meta()}

    @app.get("/gifs/search/tags")
    def search_tags(
        q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)],
        limit: int = Query(TAGS_DEFAULT_K, ge=1, le=MAX_K),
        offset: int = Query(0, ge=0, le=MAX_K),
        api_key: str | None = key_query(),
    ) -> dict[str, Any]:
        context.check_key(api_key)
        names = context.complete(q, min(MAX_K, offset + limit))[offset:]
        return names_page(names, offset)

    @app.get("/tags/related/{term}")
    def related(
        term: Annotated[str, Path(max_length=MAX_QUERY_CHARS)],
        limit: int = Query(TAGS_DEFAULT_K, ge=1, le=MAX_K),
        api_key: str | None = key_query(),
    ) -> dict[str, Any]:
        context.check_key(api_key)
        return names_page(context.suggestions(term, limit), 0)

    @app.get("/gifs/{gif_id}")
    def gif(
        request: Request,
        gif_id: Annotated[str, Path(pattern=f"^{GIF_ID_PATTERN.pattern}$")],
        api_key: str | None = key_query(),
    ) -> dict[str, Any]:
        context.check_key(api_key)
        found = context.gifs([gif_id])
        if not found:
            raise ApiError(404, "Not Found: no GIF with this id in the collection")
        file = context.files(found).get(gif_id)
        return {"data": gif_object(found[0], base_of(request), file), "meta": meta()}

    return app
