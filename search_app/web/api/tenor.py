"""Tenor's v2 dialect under /v2/: /search, /featured and /posts?ids=, in Tenor's shapes
(results with media_formats keyed by format, next as the position that pos takes back),
mapped to the same SearchRequest as every face; no second search. /categories (the
collection's themes), /autocomplete, /search_suggestions and /trending_terms answer from
the collection and this machine's past searches; /registershare records a share.

Parameters that change results: q, limit, pos, media_filter (which formats each result
lists), ar_range (GIFs of that shape; a GIF whose size was never seen is kept), random
(the page in random order), searchfilter (sticker asks for stickers: a collection has
none). Accepted and ignored: key when no keys are set, client_key, country, locale and
contentfilter (no ratings in a collection, one language, nothing tracked).

What a collection doesn't have is left out or empty, not invented: tags [] and flags []
(no tags; a GIF has no audio or sticker flag), created left out; a format's dims [] for a
GIF whose bytes were never seen, its size and duration left out unless the GIF's file is
on this server (a folder source).
"""

from __future__ import annotations

import random as shuffler
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Query, Request

from search_app.records import SearchHit, StoredGif
from search_app.retrieval.categories import Category
from search_app.retrieval.engine import hit_of
from search_app.retrieval.request import (
    DEFAULT_K,
    MAX_K,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    Aspect,
    FrontEnd,
    SearchRequest,
)
from search_app.web.api.context import ApiContext, ApiError, Media, media_of, page_url
from search_app.web.api.faces import face_app
from search_app.web.api.media import GifFile

PREFIX = "/v2"
LOCALE = "en_US"  # the locale an answer names when the request gave none (one language)
MAX_IDS = 50  # Tenor's own cap for posts
# A browser's fetch() or XHR (cors, same-origin); an <img> or a link is no-cors/navigate.
FETCH_MODES = ("cors", "same-origin")
FULL_FORMATS = ("gif", "mediumgif")  # the GIF itself
SMALL_FORMATS = ("tinygif", "nanogif")  # thumbnails
FORMATS = FULL_FORMATS + SMALL_FORMATS
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}
limit_query = partial(Query, DEFAULT_K[FrontEnd.TENOR], ge=1, le=MAX_K)
key_query = partial(
    Query, None, max_length=200, description="the API key, when the server sets keys"
)
pos_query = partial(Query, "", max_length=10, description="the next value of the previous page")
# client_key, country, locale, searchfilter, media_filter: short text
text_query = partial(Query, "", max_length=200)


def render_error(error: ApiError) -> dict[str, Any]:
    """Tenor's (Google's) error shape."""
    status = STATUS_NAMES.get(error.status, "INTERNAL")
    return {"error": {"code": error.status, "message": error.message, "status": status}}


def position(pos: str) -> int:
    """The offset a pos token stands for (the next value this server gave; "" is 0)."""
    if not pos:
        return 0
    if not pos.isdigit() or int(pos) > MAX_OFFSET:
        raise ApiError(400, "pos is not a position this server gave: use the last next value")
    return int(pos)


def media_object(
    url: str, width: int, height: int, size: int | None, duration: float | None
) -> dict[str, Any]:
    """One format: url and dims always (dims [] when unknown), size and duration if known."""
    found: dict[str, Any] = {"url": url, "dims": [width, height] if width and height else []}
    if duration is not None:
        found["duration"] = round(duration, 3)
    if size is not None:
        found["size"] = size
    return found


def formats_of(media: Media, wanted: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The formats a result lists: the GIF under the full names, the small rendition (a web
    GIF: itself again) under the thumbnail names; only those wanted."""
    full = media_object(media.url, media.width, media.height, media.size, media.duration_s)
    small = media_object(
        media.small_url, media.small_width, media.small_height, media.small_size, media.duration_s
    )
    every = {**dict.fromkeys(FULL_FORMATS, full), **dict.fromkeys(SMALL_FORMATS, small)}
    return {name: every[name] for name in wanted}


def result_object(
    gif: SearchHit | StoredGif, base: str, file: GifFile | None, wanted: tuple[str, ...]
) -> dict[str, Any]:
    """A GIF in Tenor's shape."""
    hit = gif if isinstance(gif, SearchHit) else hit_of(gif)
    url = page_url(base, hit.gif_id)
    return {
        "id": hit.gif_id,
        "title": "",
        "content_description": hit.description,
        "itemurl": url,
        "url": url,
        "tags": [],
        "flags": [],
        "hasaudio": False,
        "media_formats": formats_of(media_of(hit, base, file), wanted),
    }


def wanted_formats(media_filter: str) -> tuple[str, ...]:
    """The formats media_filter asks for that a GIF collection has (default: all of them;
    video formats a collection doesn't have are left out)."""
    asked = [part.strip() for part in media_filter.split(",") if part.strip()]
    return tuple(name for name in FORMATS if not asked or name in asked)


def stickers_only(searchfilter: str) -> bool:
    """Whether searchfilter asks for stickers (a collection of GIFs holds none)."""
    return "sticker" in {part.strip() for part in searchfilter.split(",")}


def category_tag(
    category: Category, gif: StoredGif | None, base: str, files: dict[str, GifFile]
) -> dict[str, str]:
    """A category in Tenor's shape: its search term, the search that shows it, its GIF's
    small rendition ("" when the GIF is gone) and its name as Tenor writes it (#name)."""
    image = media_of(gif, base, files.get(gif.gif_id)).small_url if gif else ""
    return {
        "searchterm": category.search_term,
        "path": f"{PREFIX}/search?{urlencode({'q': category.search_term})}",
        "image": image,
        "name": f"#{category.name}",
    }


def build_tenor(context: ApiContext) -> FastAPI:
    """The Tenor dialect's app (mounted at /v2)."""
    app = face_app(context, render_error, openapi_url=None, docs_url=None, redoc_url=None)

    def caller(
        key: str | None = key_query(),
        client_key: str = text_query(),
        country: str = text_query(),
        locale: str = text_query(),
    ) -> str:
        """The parameters every Tenor endpoint takes: the key checked, the rest accepted;
        the locale to name in an answer."""
        context.check_key(key)
        return locale or LOCALE

    def base_of(request: Request) -> str:
        return str(request.base_url).removesuffix(PREFIX + "/").rstrip("/") + "/"

    def answer(
        gifs: list[Any], request: Request, media_filter: str, randomly: bool
    ) -> list[dict[str, Any]]:
        files, base, wanted = context.files(gifs), base_of(request), wanted_formats(media_filter)
        results = [result_object(gif, base, files.get(gif.gif_id), wanted) for gif in gifs]
        if randomly:
            shuffler.shuffle(results)
        return results

    @app.get("/search", dependencies=[Depends(caller)])
    def search(
        request: Request,
        q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)] = "",
        limit: int = limit_query(),
        pos: str = pos_query(),
        media_filter: str = text_query(),
        ar_range: Literal["all", "wide", "standard"] = "all",
        random: bool = False,
        searchfilter: str = text_query(),
        contentfilter: Literal["off", "low", "medium", "high"] = "off",
    ) -> dict[str, Any]:
        offset = position(pos)
        request_ = SearchRequest(q, limit, offset, aspect=Aspect(ar_range))
        if stickers_only(searchfilter):
            return {"results": [], "next": ""}
        hits = context.search(request_)
        results = answer(list(hits), request, media_filter, random)
        return {"results": results, "next": str(offset + limit) if hits.has_more else ""}

    @app.get("/featured", dependencies=[Depends(caller)])
    def featured(
        request: Request,
        limit: int = limit_query(),
        pos: str = pos_query(),
        media_filter: str = text_query(),
        ar_range: Literal["all", "wide", "standard"] = "all",
        searchfilter: str = text_query(),
        contentfilter: Literal["off", "low", "medium", "high"] = "off",
    ) -> dict[str, Any]:
        offset = position(pos)
        if stickers_only(searchfilter):
            return {"results": [], "next": ""}
        hits = context.featured(limit, offset, aspect=ar_range)
        results = answer(list(hits), request, media_filter, False)
        return {"results": results, "next": str(offset + limit) if hits.has_more else ""}

    @app.get("/registershare", dependencies=[Depends(caller)])
    def registershare(
        request: Request,
        id: Annotated[str, Query(max_length=64)],
        q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)] = "",
    ) -> dict[str, Any]:
        mode = request.headers.get("sec-fetch-mode", "")
        if mode and mode not in FETCH_MODES:  # an <img> or a link on some page: not a share
            raise ApiError(403, "a share is registered by the app's own request, not a page load")
        context.share(id, q)
        return {}

    @app.get("/trending_terms")
    def trending_terms(
        *,
        locale: str = Depends(caller),
        limit: int = limit_query(),
    ) -> dict[str, Any]:
        return {"locale": locale, "results": context.trending_terms(limit)}

    @app.get("/categories")
    def categories(
        *,
        locale: str = Depends(caller),
        request: Request,
        kind: Annotated[Literal["featured", "trending"], Query(alias="type")] = "featured",
        contentfilter: Literal["off", "low", "medium", "high"] = "off",
    ) -> dict[str, Any]:
        found = context.categories()
        files = context.files([gif for _, gif in found if gif is not None])
        base = base_of(request)
        tags = [category_tag(category, gif, base, files) for category, gif in found]
        return {"locale": locale, "tags": tags}

    @app.get("/autocomplete")
    def autocomplete(
        *,
        locale: str = Depends(caller),
        q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)],
        limit: int = limit_query(),
    ) -> dict[str, Any]:
        return {"locale": locale, "results": context.complete(q, limit)}

    @app.get("/search_suggestions")
    def search_suggestions(
        *,
        locale: str = Depends(caller),
        q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)],
        limit: int = limit_query(),
    ) -> dict[str, Any]:
        return {"locale": locale, "results": context.suggestions(q, limit)}

    @app.get("/posts")
    def posts(
        *,
        locale: str = Depends(caller),
        request: Request,
        ids: Annotated[str, Query(max_length=MAX_IDS * 33)],
        media_filter: str = text_query(),
    ) -> dict[str, Any]:
        wanted = [part.strip() for part in ids.split(",") if part.strip()]
        if not wanted or len(wanted) > MAX_IDS:
            raise ApiError(400, f"ids: give 1 to {MAX_IDS} GIF ids, comma-separated")
        found = context.gifs(wanted)
        return {"results": answer(list(found), request, media_filter, False)}

    return app
