"""What the API's three faces share: the engine behind a concurrency bound, the keys, the
folder GIFs' files, the links a GIF is shown with, and errors classified once (each face
only renders them in its own shape)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from search_app.errors import (
    CollectionNotFoundError,
    GifSearchError,
    StoreDamagedError,
    StoreFullError,
    StoreUnavailableError,
    UnknownGifError,
)
from search_app.records import SearchHit, StoredGif
from search_app.retrieval.categories import Category
from search_app.retrieval.derived_keeper import keeper_for
from search_app.retrieval.engine import HitList, SearchEngine
from search_app.retrieval.request import MAX_SHOWN_CHARS, Aspect, SearchRequest
from search_app.web.api.keys import ApiKeys, KeyCheck
from search_app.web.api.limits import Overloaded, Slots
from search_app.web.api.media import GifFile, MediaLibrary, small_size

MEDIA_PREFIX = "/media"  # GIF files of a folder source: /media/{id}.gif, /media/{id}/small.gif
UNAVAILABLE = "the collection can't be searched right now; the server's log says why"
TRENDING_DAYS = 7.0  # trending terms: what was searched in the last week


class ApiError(Exception):
    """An API failure as every face sees it: an HTTP status and one line for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Media:
    """Where a GIF's file and small rendition are, with what is known of them (0 / None:
    not known: a web GIF the link checker never saw, a web GIF's bytes and duration)."""

    url: str
    small_url: str
    width: int
    height: int
    small_width: int
    small_height: int
    size: int | None = None
    duration_s: float | None = None
    small_size: int | None = None


@dataclass
class ApiContext:
    """The engine and everything the faces need beside it (one per server)."""

    engine: SearchEngine
    media: MediaLibrary
    keys: ApiKeys = field(default_factory=ApiKeys)
    slots: Slots = field(default_factory=Slots)
    on_error: Callable[[str], None] = lambda line: None  # the server log, for 5xx details

    def search(self, request: SearchRequest) -> HitList:
        """Run a search within the concurrency bound; a first page's words are recorded
        (trending terms, completion)."""
        with self.slots.slot():
            hits = self.engine.search(request)
        if request.offset == 0:  # a first page's words (a next page is the same search)
            self.remember_search(request.text)
        return hits

    def featured(self, k: int, offset: int, aspect: str = Aspect.ALL) -> HitList:
        """A page of the featured selection, within the concurrency bound."""
        with self.slots.slot():
            return self.engine.featured(k, offset, aspect=aspect)

    def gifs(self, gif_ids: Sequence[str]) -> list[StoredGif]:
        """Look GIFs up by id, within the concurrency bound."""
        with self.slots.slot():
            return self.engine.gifs(gif_ids)

    def share(self, gif_id: str, query: str) -> None:
        """Record a share (a GIF sent or copied for a query), within the concurrency bound."""
        with self.slots.slot():
            self.engine.remember_share(gif_id, query)

    def remember_search(self, query: str) -> None:
        """Record a searched query (a first page's: a next page is the same search)."""
        try:
            self.engine.remember_search(query)
        except GifSearchError as exc:  # a usage file that can't be written: search anyway
            self.on_error(f"API: {exc}")

    def categories(self) -> list[tuple[Category, StoredGif | None]]:
        """The collection's categories, biggest first, each with its GIF (None when the
        GIF is no longer in the collection); [] until they are built."""
        found = keeper_for(self.engine).categories()
        if not found:
            return []
        with self.slots.slot():
            gifs = {gif.gif_id: gif for gif in self.engine.gifs([c.gif_id for c in found])}
        return [(category, gifs.get(category.gif_id)) for category in found]

    def complete(self, prefix: str, k: int) -> list[str]:
        """Up to k completions of a typed prefix (past searches, then the collection's
        phrases): a lookup in memory, outside the search bound."""
        return keeper_for(self.engine).complete(prefix, k)

    def suggestions(self, query: str, k: int) -> list[str]:
        """Up to k related searches (the query is embedded: within the search bound)."""
        with self.slots.slot():
            return keeper_for(self.engine).suggestions(query, k)

    def trending_terms(self, k: int) -> list[str]:
        """The most searched queries of the last TRENDING_DAYS days, most first."""
        usage = self.engine.usage
        if usage is None:
            return []
        try:
            return [past.query for past in usage.past_searches(TRENDING_DAYS, k)]
        except GifSearchError:
            return []

    def check_key(self, presented: str | None) -> None:
        """Raise ApiError 401 (no key) or 403 (a wrong one) when keys are required."""
        verdict = self.keys.check(presented)
        if verdict == KeyCheck.MISSING:
            raise ApiError(401, "an API key is required")
        if verdict == KeyCheck.INVALID:
            raise ApiError(403, "the API key is not valid")

    def files(self, hits: Sequence[SearchHit | StoredGif]) -> dict[str, GifFile]:
        """The files of the folder GIFs among hits (web GIFs have none), by GIF id. A
        stored GIF carries its path; a search hit's GIF is looked up for it."""
        local = [hit for hit in hits if hit.url.startswith("file:")]
        if not local:
            return {}
        stored = [hit for hit in local if isinstance(hit, StoredGif)]
        asked = [hit.gif_id for hit in local if not isinstance(hit, StoredGif)]
        found = {}
        for gif in stored + (self.engine.gifs(asked) if asked else []):
            file = self.media.file(gif)
            if file is not None:
                found[gif.gif_id] = file
        return found

    def classify(self, exc: BaseException) -> ApiError:
        """The status and one line a failure reaches a client as (5xx details go to the
        server's log, never to the client: they may name the store's path)."""
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, Overloaded):
            return ApiError(429, str(exc))
        if isinstance(
            exc,
            CollectionNotFoundError | StoreUnavailableError | StoreDamagedError | StoreFullError,
        ):
            self.on_error(f"API: {exc}")
            return ApiError(503, UNAVAILABLE)
        if isinstance(exc, GifSearchError):
            return ApiError(400, one_line(str(exc)))
        self.on_error(f"API: unexpected {type(exc).__name__}: {one_line(str(exc))}")
        return ApiError(500, "the server failed to answer; its log says why")


@contextmanager
def gif_in_path(message: str = "no GIF with this id in the collection") -> Iterator[None]:
    """For an endpoint whose path names a GIF: the engine's refusal of an id the collection
    doesn't hold is 404 (named as a parameter, e.g. like=, it stays a 400)."""
    try:
        yield
    except UnknownGifError:
        raise ApiError(404, message) from None


def one_line(text: str, limit: int = 300) -> str:
    """The first line of text, cut to limit characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def page_url(base: str, gif_id: str) -> str:
    """The search page showing GIFs like this one (a dialect's page-of-the-GIF URL)."""
    return f"{base}?like={gif_id}"


def media_of(gif: SearchHit | StoredGif, base: str, file: GifFile | None) -> Media:
    """Where a GIF's file and small rendition are: a web GIF's own URL for both, a folder
    GIF's file and rendition on this server."""
    if file is None:
        width, height = gif.width, gif.height
        return Media(gif.url, gif.url, width, height, width, height)
    small_width, small_height = small_size(file.width, file.height)
    return Media(
        url=f"{base.rstrip('/')}{MEDIA_PREFIX}/{gif.gif_id}.gif",
        small_url=f"{base.rstrip('/')}{MEDIA_PREFIX}/{gif.gif_id}/small.gif",
        width=file.width,
        height=file.height,
        small_width=small_width,
        small_height=small_height,
        size=file.size,
        duration_s=file.duration_s,
    )


def validation_message(errors: Sequence[object]) -> str:
    """One line for FastAPI's parameter errors: the first one's parameter and problem
    (never the value sent: it may be long, or a secret)."""
    for error in errors:
        if isinstance(error, dict):
            where = [str(part) for part in error.get("loc", ()) if part not in ("query", "path")]
            name = ".".join(where)[:MAX_SHOWN_CHARS] or "a parameter"
            return one_line(f"{name}: {error.get('msg', 'is not valid')}")
    return "a parameter is not valid"
