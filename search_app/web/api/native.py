"""gifsearch's own JSON API under /api/: search, a GIF by id, GIFs by ids, more like this,
the featured selection; every field a card shows. Its OpenAPI document is served at
/api/openapi.json.

The pydantic models below are the document's schemas; answers are built as plain dicts
of the same shape (validating each answer against its model cost a fifth of a search's
time: measured by benchmarks/api_bench.py), and schemathesis checks every answer against
the served document in the tests."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

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
from search_app.web.api.context import ApiContext, ApiError, gif_in_path, media_of, page_url
from search_app.web.api.faces import face_app
from search_app.web.api.media import GifFile

PREFIX = "/api"
MAX_IDS = 100  # GIFs per lookup (GIPHY's own cap)
ID = f"^{GIF_ID_PATTERN.pattern}$"  # anchored: JSON Schema patterns match anywhere
IDS = rf"^{GIF_ID_PATTERN.pattern}(,{GIF_ID_PATTERN.pattern}){{0,{MAX_IDS - 1}}}$"
KEY_HEADER = "X-API-Key"
limit_query = partial(
    Query, DEFAULT_K[FrontEnd.API], ge=1, le=MAX_K, description="results per page"
)
offset_query = partial(
    Query, 0, ge=0, le=MAX_OFFSET, description="results to skip (the next page's offset)"
)
min_score_query = partial(
    Query, None, ge=-1.0, le=1.0, allow_inf_nan=False, description="hold back weaker"
)
include_dead_query = partial(Query, False, description="also return GIFs whose link was found dead")


class Link(BaseModel):
    """What the link checker found: alive, dead or unchecked, when, and why it is dead."""

    status: Literal["alive", "dead", "unchecked"]
    checked_at: int | None = Field(None, description="seconds since the epoch (UTC)")
    reason: str | None = None


class Gif(BaseModel):
    """One GIF, with every field a card shows."""

    id: str = Field(pattern=ID)
    url: str = Field(description="the GIF itself (a folder GIF: its file on this server)")
    small_url: str = Field(description="a small rendition (a web GIF: its own URL)")
    page_url: str = Field(description="this server's page of GIFs like it")
    score: float | None = Field(description="the card's score; null when not ranked")
    score_kind: Literal["cosine", "rank_fusion", "none"]
    remembered: bool = Field(description="ranked up: shared before for a query like this one")
    matched: list[Literal["description", "frame"]]
    description: str
    other_descriptions: list[str]
    width: int | None = Field(description="pixels; null when its bytes were never seen")
    height: int | None
    link: Link


class Results(BaseModel):
    """A page of GIFs, and what the search left out of it."""

    results: list[Gif]
    offset: int
    limit: int
    next_offset: int | None = Field(description="the next page's offset; null on the last")
    held_back: int = Field(description="results under min_score on this page")
    excluded: int = Field(description="GIFs mentioning what the query leaves out")
    hidden_dead: int = Field(description="GIFs left out because their link was found dead")


class Shared(BaseModel):
    """A share recorded: the GIF and the query it was shared for."""

    id: str
    query: str


class CategoryOut(BaseModel):
    """A theme of the collection: its name, the words that search it, how many GIFs it
    holds, and its most central GIF (null when that GIF left the collection)."""

    name: str
    search_term: str
    size: int
    gif: Gif | None


class Categories(BaseModel):
    """The collection's categories, biggest first ([] until they are built)."""

    results: list[CategoryOut]


class Terms(BaseModel):
    """Search terms: completions of a prefix, or related searches."""

    results: list[str]


class Gifs(BaseModel):
    """GIFs looked up by id, in the order asked (ids not in the collection left out)."""

    results: list[Gif]


class ErrorBody(BaseModel):
    status: int
    message: str


class Error(BaseModel):
    """Every failure: its HTTP status and one line."""

    error: ErrorBody


def render_error(error: ApiError) -> dict[str, Any]:
    """The native error shape."""
    return {"error": {"status": error.status, "message": error.message}}


def gif_out(gif: SearchHit | StoredGif, base: str, file: GifFile | None) -> dict[str, Any]:
    """A hit or a looked-up GIF in the native shape, Gif (file: a folder GIF's)."""
    hit = gif if isinstance(gif, SearchHit) else hit_of(gif)
    media = media_of(hit, base, file)
    return {
        "id": hit.gif_id,
        "url": media.url,
        "small_url": media.small_url,
        "page_url": page_url(base, hit.gif_id),
        "score": hit.to_dict()["score"],
        "score_kind": str(hit.score_kind),
        "remembered": hit.remembered,
        "matched": list(hit.matched),
        "description": hit.description,
        "other_descriptions": list(hit.other_descriptions),
        "width": media.width or None,
        "height": media.height or None,
        "link": {
            "status": hit.link or "unchecked",
            "checked_at": hit.link_checked_at or None,
            "reason": (gif.link_reason or None) if isinstance(gif, StoredGif) else None,
        },
    }


def results_out(
    hits: HitList, offset: int, limit: int, base: str, context: ApiContext
) -> JSONResponse:
    """A page of hits in the native shape, Results."""
    files = context.files(hits)
    return JSONResponse(
        {
            "results": [gif_out(hit, base, files.get(hit.gif_id)) for hit in hits],
            "offset": offset,
            "limit": limit,
            "next_offset": offset + limit if hits.has_more else None,
            "held_back": hits.held_back,
            "excluded": hits.excluded,
            "hidden_dead": hits.hidden_dead,
        }
    )


def build_native(context: ApiContext) -> FastAPI:
    """The native API's app (mounted at /api)."""
    app = face_app(
        context,
        render_error,
        title="gifsearch",
        version="1",
        summary="Semantic search over your own animated GIFs",
        openapi_url="/openapi.json",
        docs_url=None,  # Swagger UI loads its assets from a CDN: nothing leaves the machine
        redoc_url=None,
        responses={
            400: {"model": Error},
            401: {"model": Error},
            403: {"model": Error},
            404: {"model": Error},
            429: {"model": Error},
            503: {"model": Error},
        },
    )
    header = APIKeyHeader(name=KEY_HEADER, auto_error=False, description="when keys are set")

    def keyed(key: str | None = Depends(header)) -> None:
        context.check_key(key)

    def base_of(request: Request) -> str:
        return str(request.base_url).removesuffix(PREFIX + "/").rstrip("/") + "/"

    # The key header is declared (and checked) only when keys are set: the document then
    # says truthfully whether a key is needed.
    guard = [Depends(keyed)] if context.keys.required else []

    @app.get("/search", response_model=Results, dependencies=guard)
    def search(
        request: Request,
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=MAX_QUERY_CHARS,
                pattern=r"\S",  # not blank
                description='what happens; -word / -"a phrase" leave things out (a query of '
                "exclusions only is refused)",
            ),
        ],
        limit: int = limit_query(),
        offset: int = offset_query(),
        min_score: float | None = min_score_query(),
        include_dead: bool = include_dead_query(),
        like: Annotated[str | None, Query(pattern=ID, description="a GIF id: GIFs like it")] = None,
    ) -> JSONResponse:
        """Search the GIFs by what happens in them (and, with like, by a stored GIF)."""
        wanted = SearchRequest(q, limit, offset, min_score, include_dead, like=like)
        hits = context.search(wanted)
        return results_out(hits, offset, limit, base_of(request), context)

    @app.post("/gifs/{gif_id}/share", response_model=Shared, dependencies=guard)
    def share(
        gif_id: Annotated[str, Path(pattern=ID)],
        q: Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="what was searched")] = "",
    ) -> JSONResponse:
        """Record that a GIF was shared (sent or copied) for a query, on this machine only:
        it ranks higher the next time the same or a close query is searched, and leads the
        featured list. From a page on another site, use Tenor's GET /v2/registershare."""
        with gif_in_path():
            context.share(gif_id, q)
        return JSONResponse({"id": gif_id, "query": " ".join(q.split())})

    @app.get("/categories", response_model=Categories, dependencies=guard)
    def categories(request: Request) -> JSONResponse:
        """The collection's themes (k-means over its descriptions, named by their most
        characteristic phrase), each with its most central GIF: chips that search."""
        found = context.categories()
        files = context.files([gif for _, gif in found if gif is not None])
        base = base_of(request)
        results = [
            {
                "name": category.name,
                "search_term": category.search_term,
                "size": category.size,
                "gif": gif_out(gif, base, files.get(gif.gif_id)) if gif else None,
            }
            for category, gif in found
        ]
        return JSONResponse({"results": results})

    @app.get("/complete", response_model=Terms, dependencies=guard)
    def complete(
        q: Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="what was typed")] = "",
        limit: int = limit_query(),
    ) -> JSONResponse:
        """Complete a typed prefix: this machine's past searches that start with it, then
        the collection's own phrases (an empty prefix: past searches only)."""
        return JSONResponse({"results": context.complete(q, limit)})

    @app.get("/suggestions", response_model=Terms, dependencies=guard)
    def suggestions(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S")],
        limit: int = limit_query(),
    ) -> JSONResponse:
        """Related searches: the collection's phrases nearest the query in meaning."""
        return JSONResponse({"results": context.suggestions(q, limit)})

    @app.get("/featured", response_model=Results, dependencies=guard)
    def featured(
        request: Request, limit: int = limit_query(), offset: int = offset_query()
    ) -> JSONResponse:
        """A stable, diverse selection of the collection (for a first screen)."""
        hits = context.featured(limit, offset)
        return results_out(hits, offset, limit, base_of(request), context)

    @app.get("/gifs", response_model=Gifs, dependencies=guard)
    def gifs(
        request: Request,
        ids: Annotated[
            str,
            Query(
                max_length=MAX_IDS * 33,
                pattern=IDS,
                description=f"1 to {MAX_IDS} GIF ids, comma-separated",
            ),
        ],
    ) -> JSONResponse:
        """GIFs by id (up to 100), in the order asked; unknown ids are left out."""
        wanted = [part.strip() for part in ids.split(",") if part.strip()]
        if not wanted or len(wanted) > MAX_IDS:
            raise ApiError(400, f"ids: give 1 to {MAX_IDS} GIF ids, comma-separated")
        found = context.gifs(wanted)
        files = context.files(found)
        base = base_of(request)
        return JSONResponse({"results": [gif_out(g, base, files.get(g.gif_id)) for g in found]})

    @app.get("/gifs/{gif_id}", response_model=Gif, dependencies=guard)
    def gif(request: Request, gif_id: Annotated[str, Path(pattern=ID)]) -> JSONResponse:
        """One GIF by id."""
        found = context.gifs([gif_id])
        if not found:
            raise ApiError(404, "no GIF with this id in the collection")
        return JSONResponse(gif_out(found[0], base_of(request), context.files(found).get(gif_id)))

    @app.get("/gifs/{gif_id}/similar", response_model=Results, dependencies=guard)
    def similar(
        request: Request,
        gif_id: Annotated[str, Path(pattern=ID)],
        limit: int = limit_query(),
        offset: int = offset_query(),
        min_score: float | None = min_score_query(),
        include_dead: bool = include_dead_query(),
    ) -> JSONResponse:
        """More like this: the GIFs most like a stored GIF, without it."""
        wanted = SearchRequest("", limit, offset, min_score, include_dead, like=gif_id)
        with gif_in_path():
            hits = context.search(wanted)
        return results_out(hits, offset, limit, base_of(request), context)

    return app
