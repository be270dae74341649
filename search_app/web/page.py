"""The search page's logic, without gradio: what a view of results is, how it is read from
and written to the page's URL, and the handlers that turn a view into cards.

A view is what the page shows: a query (text, a stored GIF to be like, an image in the
image box, or a mix), the number of results per page, a score floor, whether GIFs known
dead are shown, and how many results are loaded so far. The page's URL carries the query
part (q, k, like), so a search can be shared, and the browser's back button returns to the
previous one.

A failure the client caused (a bad value, an empty query, an image the model can't take)
is shown as it is; any other (the store deleted, damaged or unreadable under a running
server) would name the server's files, so its clients are told only that the collection
can't be read, and the full line goes to the server's log.
"""

from __future__ import annotations

import html
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlencode

from PIL import Image

from search_app.errors import (
    ConfigError,
    EmptyQueryError,
    GifSearchError,
    ImageReadError,
    ImagesUnsupportedError,
    QueryTooLongError,
    StoreUnavailableError,
)
from search_app.retrieval.derived_keeper import keeper_for
from search_app.retrieval.engine import CollectionStats, HitList, SearchEngine, hit_of
from search_app.retrieval.request import (
    DEFAULT_K,
    GIF_ID_PATTERN,
    MAX_K,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    FrontEnd,
    SearchRequest,
)
from search_app.web.cards import format_status, render_notice, render_results

PAGE_DEFAULT_K = DEFAULT_K[FrontEnd.PAGE]
RECENT_GIFS = 12  # the "Recently shared" row the page opens on
PAGE_TOPICS = 24  # category chips under the query box (biggest categories first)
PAGE_COMPLETIONS = 8  # what the query box offers as it is typed into
COMPLETIONS_ID = "gs-completions"  # the datalist the query box's input names
API_DEFAULT_K = DEFAULT_K[FrontEnd.API]
MAX_TITLE_CHARS = 200  # of a "More like" heading
MAX_URL_QUERY_CHARS = 4 * MAX_QUERY_CHARS  # of the page URL's query string we read
PageOutputs = tuple[str, str, list[dict[str, object]], dict[str, object]]
LOG = logging.getLogger(__name__)
# Failures of the request itself, whose messages quote only what the client sent.
CLIENT_ERRORS = (
    ConfigError,
    EmptyQueryError,
    QueryTooLongError,
    ImagesUnsupportedError,
    ImageReadError,
)
SERVER_TROUBLE = "the server can't read its collection right now (its log says why)"


def client_message(exc: GifSearchError) -> str:
    """What a web client is told of a failure: its own request's problem as it is, the
    server's (its store, its model: messages with its paths) only that, logged in full."""
    if isinstance(exc, CLIENT_ERRORS):
        return str(exc)
    LOG.warning("a web search failed: %s", exc)
    return SERVER_TROUBLE


@dataclass(frozen=True)
class PageView:
    """What the page shows (see the module); shown and has_more say how far it loaded."""

    q: str = ""
    k: int = PAGE_DEFAULT_K
    like: str = ""  # a GIF id: "more like this"
    title: str = ""  # the liked GIF's card title, for the heading
    image: bool = False  # the image box's image takes part
    min_score: float = 0.0  # 0: no floor
    include_dead: bool = False
    shown: int = 0
    has_more: bool = False

    @property
    def empty(self) -> bool:
        """Whether there is nothing to search for."""
        return not (self.q.strip() or self.like or self.image)

    def url_query(self) -> str:
        """The page URL's query string for this view ("" for the empty page)."""
        if self.empty or self.image:
            return ""
        params = {"q": self.q} if self.q else {}
        if self.like:
            params["like"] = self.like
        params["k"] = str(self.k)
        return "?" + urlencode(params)

    def request(self, image: Image.Image | None = None, offset: int = 0) -> SearchRequest:
        """The page's mapping: this view (with the image box's image, when it takes part,
        and the number of results already loaded) to a SearchRequest."""
        picture = image if self.image else None
        return SearchRequest(
            text=self.q,
            k=self.k,
            offset=min(offset, MAX_OFFSET),
            min_score=self.min_score or None,  # the slider's 0 is "no floor"
            include_dead=self.include_dead,
            image=picture,
            like=(self.like or None) if picture is None else None,  # a dropped image wins
        )

    def to_state(self) -> dict[str, object]:
        """The view as the page's state (plain data)."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: object) -> PageView:
        """The view a page's state holds (a fresh one for anything unexpected)."""
        if not isinstance(state, Mapping):
            return cls()
        try:
            return cls(**{k: v for k, v in state.items() if k in cls.__dataclass_fields__})
        except TypeError:
            return cls()


def view_from_url(query_string: object, base: PageView | None = None) -> PageView:
    """Read q, k and like from a page URL's query string; what doesn't fit is ignored."""
    base = base or PageView()
    if not isinstance(query_string, str):
        return base
    params = parse_qs(query_string.lstrip("?")[:MAX_URL_QUERY_CHARS])
    q = params.get("q", [""])[0][:MAX_QUERY_CHARS]
    like = params.get("like", [""])[0]
    like = like if GIF_ID_PATTERN.fullmatch(like) else ""
    try:
        k = min(max(int(params.get("k", [base.k])[0]), 1), MAX_K)
    except ValueError:
        k = base.k
    return replace(base, q=q, k=k, like=like, title="", image=False, shown=0, has_more=False)


class SearchHandlers:
    """The page's and the API's handlers over one SearchEngine."""

    def __init__(self, engine: SearchEngine, fill_command: str = "gifsearch ingest") -> None:
        self.engine = engine
        self.fill_command = fill_command

    def status_line(
        self,
        latency_ms: float | None = None,
        hits: HitList | None = None,
        stats: CollectionStats | None = None,
    ) -> str:
        """Return the status line for the open collection (and the last search); stats:
        the collection's, when the caller has just read them."""
        try:
            return format_status(stats or self.engine.stats(wait=False), latency_ms, hits)
        except GifSearchError as exc:
            return f"collection **{self.engine.store.collection_name}** · {client_message(exc)}"

    @property
    def images_enabled(self) -> bool:
        """Whether search by image is offered: the collection's model embeds images."""
        return self.engine.supports_images

    def empty_notice(self, stats: CollectionStats | None = None) -> str | None:
        """Return a notice saying how to fill the collection when it holds nothing (or
        that it can't be read)."""
        try:
            stats = stats or self.engine.stats(wait=False)
        except GifSearchError as exc:
            return render_notice("Could not search", client_message(exc))
        if stats.descriptions or stats.frames:
            return None
        return render_notice(
            f'The collection "{self.engine.store.collection_name}" is empty',
            "Fill it with GIFs and their descriptions, then search again:",
            self.fill_command,
        )

    def opening(self) -> tuple[str, str]:
        """The page before any search (welcome) and its status line, from one read of the
        collection's stats (each reads them again only to say why that read failed)."""
        try:
            stats = self.engine.stats(wait=False)
        except GifSearchError:
            stats = None
        return self.welcome(stats), self.status_line(stats=stats)

    def welcome(self, stats: CollectionStats | None = None) -> str:
        """The page before any search: the GIFs shared most recently, when there are any
        (stats: the collection's, when the caller has just read them)."""
        notice = self.empty_notice(stats)
        if notice:
            return notice
        recent = [hit_of(gif).to_dict() for gif in self.engine.recent_shares(RECENT_GIFS)]
        if recent:
            return render_results(recent, "Recently shared", more=False, url="", push=False)
        return render_notice(
            "Search GIFs by what happens in them",
            "Type a sentence and press Enter, or pick a topic.",
        )

    def topics(self) -> list[str]:
        """The chips under the query box: the search terms of the collection's biggest
        categories ([] until they are built, and for a collection without words)."""
        return [category.search_term for category in keeper_for(self.engine).categories()][
            :PAGE_TOPICS
        ]

    def completions(self, prefix: str) -> str:
        """The query box's completions of what was typed, as the datalist its input names
        (past searches, then the collection's phrases; escaped)."""
        try:
            terms = keeper_for(self.engine).complete(prefix, PAGE_COMPLETIONS)
        except GifSearchError:  # too long: nothing to offer
            terms = []
        options = "".join(f'<option value="{html.escape(term)}"></option>' for term in terms)
        return f'<datalist id="{COMPLETIONS_ID}">{options}</datalist>'

    def share(self, gif_id: str, view: PageView) -> None:
        """Remember that a GIF was shared (its URL copied) for the view's words."""
        try:
            self.engine.remember_share(gif_id, view.q)
        except GifSearchError:
            return  # an unknown id, or usage that can't be written: copying still works

    def show(
        self,
        view: PageView,
        image: Image.Image | None = None,
        loaded: list[dict[str, object]] | None = None,
        push: bool = True,
    ) -> PageOutputs:
        """Search for a view and render it: the results HTML, the status line, the hits
        shown so far and the new view. With loaded (hits already on the page), the next
        page is added below them ("load more"). push: the page URL moves to this view."""
        if view.image and image is None:
            message = render_notice("Drop an image first", "An image or a GIF; see GIFs like it.")
            return message, self.status_line(), [], replace(view, shown=0).to_state()
        if view.empty:
            message = render_notice(
                "Type a sentence first", "Describe what happens in the GIF, e.g. “a dog runs”."
            )
            return message, self.status_line(), [], replace(view, shown=0).to_state()
        loaded = list(loaded or [])
        stats = None  # read once; a failure after it keeps them for the status line
        try:
            stats = self.engine.stats(wait=False)  # once per search; GIFs counted in the background
            notice = self.empty_notice(stats)
            if notice:
                return notice, self.status_line(stats=stats), [], view.to_state()
            request = view.request(image, offset=len(loaded))
            started = time.perf_counter()
            hits = self.engine.search(request)
            latency_ms = (time.perf_counter() - started) * 1000
            if request.text and not loaded:
                self.remember_search(request.text)
        except EmptyQueryError:
            notice = render_notice(
                "Type a sentence first", "Describe what happens in the GIF, e.g. “a dog runs”."
            )
            return notice, self.status_line(stats=stats), [], view.to_state()
        except GifSearchError as exc:
            return (
                render_notice("Could not search", client_message(exc)),
                self.status_line(stats=stats),
                [],
                (view.to_state()),
            )
        shown = loaded + [hit.to_dict() for hit in hits]
        new_view = replace(view, shown=len(shown), has_more=hits.has_more)
        html = render_results(
            shown,
            heading(new_view),
            more=new_view.has_more and len(shown) < MAX_OFFSET,
            url=new_view.url_query(),
            push=push and not loaded,
        )
        return html, self.status_line(latency_ms, hits, stats), shown, new_view.to_state()

    def remember_search(self, query: str) -> None:
        """Remember a searched query (completion, trending terms); never fails a search."""
        try:
            self.engine.remember_search(query)
        except GifSearchError:
            return

    def api_search(
        self,
        query: str,
        k: int = API_DEFAULT_K,
        offset: int = 0,
        min_score: float | None = None,
        include_dead: bool = False,
    ) -> list[dict[str, Any]]:
        """Return up to k GIFs for query (after the first offset), as JSON-ready dicts."""
        return self._api(lambda: SearchRequest(query, k, offset, min_score, include_dead))

    def api_similar(
        self, gif_id: str, k: int = API_DEFAULT_K, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Return up to k GIFs most like the stored GIF gif_id, as JSON-ready dicts."""
        return self._api(lambda: SearchRequest(k=k, offset=offset, like=gif_id))

    def _api(self, make_request: Callable[[], SearchRequest]) -> list[dict[str, Any]]:
        """Make the API's request and search: a failure of the server's own is re-raised
        without its details (client_message), one of the request's as it is."""
        try:
            return [hit.to_dict() for hit in self.engine.search(make_request())]
        except CLIENT_ERRORS:
            raise
        except GifSearchError as exc:
            raise StoreUnavailableError(client_message(exc)) from None


def heading(view: PageView) -> str:
    """The results' heading for a view."""
    title = " ".join(view.title.split())[:MAX_TITLE_CHARS]
    like = f"More like “{title}”" if title else "More like this GIF"
    parts = []
    if view.image:
        parts.append("GIFs like your image")
    if view.like:
        parts.append(like)
    if view.q.strip():
        text = view.q.strip()
        parts.append(f"but “{text}”" if parts else f"Results for “{text}”")
    return ", ".join(parts)


def shared_gif(event: object) -> str | None:
    """The GIF id of a results-area "Copy URL" event, else None."""
    if isinstance(event, Mapping):
        shared = event.get("share")
        if isinstance(shared, str) and GIF_ID_PATTERN.fullmatch(shared):
            return shared
    return None


def view_after(
    event: object, current: PageView, q: str = "", k: float = PAGE_DEFAULT_K
) -> tuple[PageView, bool, bool] | None:
    """Read a results-area event (a card's "More like this", "Load more", the browser's
    back button); return (the view to show, whether to load more, whether to push the URL),
    or None for an event that means nothing."""
    if not isinstance(event, Mapping):
        return None
    if "more" in event:
        return current, True, False
    if "nav" in event:
        return view_from_url(event.get("nav"), current), False, False
    gif_id = event.get("gif_id")
    if isinstance(gif_id, str):
        title = event.get("title")
        if not isinstance(title, str):
            title = ""
        view = replace(
            current, q="", like=gif_id, title=title[:MAX_TITLE_CHARS], image=False, shown=0
        )
        return view, False, True
    return None


def apply_form(
    current: PageView,
    q: object,
    k: object,
    min_score: object,
    include_dead: object,
    image_present: bool,
) -> PageView:
    """Return the view a submitted search form asks for (the like chip stays)."""
    return replace(
        current,
        q=q if isinstance(q, str) else "",
        k=int(k) if isinstance(k, int | float) and math.isfinite(k) else PAGE_DEFAULT_K,
        min_score=float(min_score) if isinstance(min_score, int | float) else 0.0,
        include_dead=bool(include_dead),
        image=image_present,
        shown=0,
        has_more=False,
    )
