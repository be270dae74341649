"""The search engine: a SearchRequest in, the page of GIFs that match it out, one hit a GIF.

SearchEngine.search(request) is the one way in for every front end (search_app/web, the
CLI, the APIs); eval reaches the ranking's inner steps through EvalProbe
(search_app/retrieval/probe.py) only.

A collection may hold two kinds of row: descriptions (text vectors) and frames (image
vectors, in the sibling frames collection). Each kind is searched on its own with one
Chroma query for the nearest rows. Description rows are grouped by GIF and pooled
(retrieval/ranking.py: soft-best, the best cosine plus a bonus of at most 0.02 when
other descriptions match nearly as well); a GIF's frame score is its nearest frame's cosine.
When only one kind has rows, a GIF's score is its score on that side. When both do, the
two ranked lists are merged by reciprocal-rank fusion (fuse_ranks): CLIP's text-to-text
cosines (~0.8 for a match) and text-to-image cosines (~0.3) live on different scales, so
ranks are compared, not cosines. An image query searches the frames (image to image) when
there are any, else the descriptions.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from search_app.embedders.frames import query_frames
from search_app.embedders.sbert import Embedder, resolve_model_spec
from search_app.errors import (
    SEARCH_BY_IMAGE_HINT,
    GifSearchError,
    UnknownGifError,
    images_unsupported,
)
from search_app.records import (
    RowKind,
    ScoreKind,
    SearchHit,
    StoredGif,
    StoredRow,
    gifs_of_rows,
)
from search_app.retrieval.catalog import CatalogKeeper
from search_app.retrieval.featured import POOL_PAGE_ROWS, POOL_PAGES, diverse_order, gif_vectors
from search_app.retrieval.query import excludes
from search_app.retrieval.ranking import (
    BEST_ONLY,
    SHARE_DEPTH,
    SHARE_FLOOR,
    FusedGif,
    ScoredGif,
    best_row_per_gif,
    fuse_queries,
    fuse_ranks,
    rank_rows,
    remember,
)
from search_app.retrieval.request import (
    DEFAULT_K,
    MAX_K,
    MAX_OFFSET,
    Aspect,
    FrontEnd,
    SearchRequest,
    check_gif_id,
    fits_aspect,
)
from search_app.settings import Settings
from search_app.store.binding import ModelBinding, check_binding
from search_app.store.client import GifStore
from search_app.store.usage import UsageLog

if TYPE_CHECKING:
    from search_app.embedders.query_embedder import EmbedderLoader, QueryEmbedder

MAX_DEPTH_GIFS = 2_000  # GIFs ranked at most to fill a page past filters
FUSION_DEPTH = 2  # with both kinds, each kind's list is FUSION_DEPTH x k GIFs deep
# GIFs whose rows are fetched per wanted GIF, and rows first fetched per such GIF (too few
# and _nearest_rows asks again for twice as many); docs/results.md, "Design measurements".
CANDIDATE_FACTOR = 3
ROWS_PER_CANDIDATE = 2
ROWS_PER_FRAME_GIF = 4  # frames: a GIF has up to 3 frames by default
# How long stats(wait=False) waits for the GIF count: a small collection's catalog is built
# within it, so its status line counts GIFs at once; a large one's says they are counted.
STATS_WAIT_S = 0.1
SERVER_CATALOG_S = 600.0  # a server store's catalog is read again at least this often
Vectors = Mapping[str, np.ndarray]  # a query's vector for each kind of row it searches
Part = tuple[float, Vectors]  # one weighted part of a query (text, an image, a stored GIF)


@dataclass(frozen=True)
class CollectionStats:
    """What the status line shows about the open collection."""

    collection: str
    gifs: int | None  # None: still being counted (see SearchEngine.stats)
    descriptions: int
    model_name: str
    frames: int = 0


class HitList(list[SearchHit]):
    """Hits, best first, and what the search left out: hits under the floor (held_back),
    GIFs known dead, GIFs mentioning an excluded term and GIFs of another shape than the
    request's aspect; has_more: a next page exists."""

    def __init__(
        self,
        hits: Sequence[SearchHit] = (),
        held_back: int = 0,
        hidden_dead: int = 0,
        excluded: int = 0,
        has_more: bool = False,
        other_shape: int = 0,
    ) -> None:
        super().__init__(hits)
        self.held_back = held_back
        self.hidden_dead = hidden_dead
        self.excluded = excluded
        self.other_shape = other_shape
        self.has_more = has_more


class SearchEngine:
    """A store plus the embedder of the model its collection is bound to."""

    def __init__(
        self,
        store: GifStore,
        embedder: QueryEmbedder | Embedder,
        binding: ModelBinding,
        usage: UsageLog | None = None,
    ) -> None:
        check_binding(binding, embedder.name, embedder.dimension, store.collection_name)
        self.store = store
        self.embedder = embedder
        self.binding = binding
        self.usage = usage  # what people shared and searched (None: remembers nothing)
        self._stats: CollectionStats | None = None
        self._stats_lock = threading.Lock()  # web handlers share one engine
        self._catalog = CatalogKeeper(store.iter_gif_ids)
        # A server store changes with no files here to watch (refresh_if_changed can't
        # tell): its rows are counted every time, and its catalog is dropped when they
        # change (stats) or it is SERVER_CATALOG_S old (a search); until it is read again
        # the rows of a search's GIFs are found by a filter. (At 1M rows the filter took
        # 131 ms a search, the catalog's ids 2 ms; the catalog is read in 31 s.)
        self._sees_changes = not store.settings.chroma_host
        self._answered = 0  # queries answered: an engine past its first keeps a catalog
        self._counts: tuple[int, int] | None = None  # an embedded store's, until it changes
        self._featured: list[StoredGif] | None = None  # until the store changes
        self._featured_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        settings: Settings,
        loader: EmbedderLoader | None = None,
        need_images: bool = False,
        store: GifStore | None = None,
    ) -> SearchEngine:
        """Open the collection and load the query embedder of the model it was built with
        (embedders/query_embedder.py: ONNX when built and verified, else
        sentence-transformers).

        With model 'auto' the recorded model is used; a named model must match it. With
        need_images, a collection recorded as text-only fails before any model loads. A
        store already opened on these settings is used as it is (opening one checks its
        index files whole and Chroma loads the index: 0.9 s and 3.1 s at 1M rows).
        """
        if loader is None:
            from search_app.embedders.query_embedder import load_query_embedder

            loader = load_query_embedder
        store = GifStore(settings) if store is None else store
        binding = store.require_binding()
        if settings.model != "auto":
            asked = resolve_model_spec(settings.model)
            check_binding(binding, asked.name, None, store.collection_name)
        if need_images and binding.images is False:
            raise images_unsupported(
                store.collection_name, binding.model_name, SEARCH_BY_IMAGE_HINT
            )
        usage = UsageLog.for_settings(settings)  # read when used; written only by a share
        return cls(store, loader(binding.model, settings), binding, usage)

    @property
    def supports_images(self) -> bool:
        """Whether this collection's model can embed an image query (CLIP-family)."""
        return self.embedder.supports_images

    def search(self, request: SearchRequest) -> HitList:
        """Return the page of GIFs that best match a request, best first.

        Each part of the request (its text, its image, the stored GIF it is like) is
        ranked as a search of its own; two parts are fused by weighted rank, the image's
        (or GIF's) share request.image_weight. The text's exclusions leave out the GIFs
        that mention them, GIFs known dead are hidden unless request.include_dead, and the
        page request.offset .. + k is returned, less the hits under request.min_score.
        """
        self.refresh()  # first: a store gone under a long-lived engine fails here, in one line
        parts: list[Part] = []
        share = request.image_weight if request.combined else 1.0
        closeness: Mapping[str, float] = {}
        if request.text:
            text = self.embedder.embed_query(request.query.text)
            parts.append((1.0 - share if request.combined else 1.0, dict.fromkeys(RowKind, text)))
            if not request.combined:
                closeness = self._shared_near(text)
        if request.image is not None:
            parts.append((share, self._image_query(request.image)))
        elif request.like is not None:
            parts.append((share, self._gif_centres(request.like)))
        return self._rank_parts(parts, request, request.query.excluded, closeness)

    def _shared_near(self, vector: np.ndarray) -> Mapping[str, float]:
        """The GIFs shared for past queries close to this one, with how close (none when
        the engine keeps no usage, or it can't be read: the search goes on without it)."""
        if self.usage is None:
            return {}
        try:
            return self.usage.memory().closeness(vector, SHARE_FLOOR)
        except GifSearchError:
            return {}

    def remember_share(self, gif_id: str, query: str) -> None:
        """Record that a GIF was shared (sent, copied) for a query: it ranks higher the next
        time the same or a close query is searched (ranking.remember). Refuses an id the
        collection doesn't hold."""
        if not self.gifs([gif_id]):
            raise UnknownGifError(f"no GIF with id {check_gif_id(gif_id)!r} in this collection")
        if self.usage is None:
            return
        text, vector = "", None
        if query.strip():
            text = SearchRequest(query).query.text  # the words looked for, not the exclusions
            vector = self.embedder.embed_query(text)
        self.usage.record_share(gif_id, text, vector)

    def remember_search(self, query: str) -> None:
        """Record that a query was searched (trending terms, completion)."""
        if self.usage is not None and query.strip():
            self.usage.record_search(" ".join(query.split()))

    def _image_vector(self, image: Image.Image) -> np.ndarray:
        """Embed an image query (a GIF as the mean of its picked frames); CLIP only."""
        if not self.supports_images:
            raise images_unsupported(
                self.store.collection_name, self.binding.model_name, SEARCH_BY_IMAGE_HINT
            )
        return unit_mean(self.embedder.embed_images(query_frames(image)))

    def _image_query(self, image: Image.Image) -> dict[str, np.ndarray]:
        """The vectors an image searches with: its frames' (image to image) when the
        collection has any, else its descriptions' (image to text, CLIP's zero-shot
        matching). Fusing both would let a GIF whose frame is the very image lose to one
        whose description happens to rank high."""
        vector = self._image_vector(image)
        self.refresh()
        kind = RowKind.FRAME if self.store.count_kind(RowKind.FRAME) else RowKind.DESCRIPTION
        return {kind: vector}

    def _rank_parts(
        self,
        parts: Sequence[Part],
        request: SearchRequest,
        excluded: Sequence[Sequence[str]] = (),
        closeness: Mapping[str, float] = MappingProxyType({}),
    ) -> HitList:
        """Rank each weighted part as a search of its own, fuse their lists by weighted
        reciprocal rank (ranking.fuse_queries; one part is ranked as it is), leave out the
        GIFs known dead (unless request.include_dead), the liked GIF itself and those
        mentioning an excluded term, and return the request's page, less the hits under
        its min_score."""
        self.refresh()
        # From the second query on, the engine builds a catalog in the background.
        if not self._sees_changes:  # another machine may have written to the server
            self._catalog.drop_older_than(SERVER_CATALOG_S)
        self._catalog.get(build=self._answered > 0)
        self._answered += 1
        # No count() per query: Chroma answers n_results beyond a collection's size with
        # every row it has, which is how _nearest_rows knows it has seen them all.
        parts = [(weight, vectors) for weight, vectors in parts if weight > 0] or parts[:1]
        kinds_of = [[kind for kind in vectors if self.store.has_kind(kind)] for _, vectors in parts]
        wanted = request.offset + request.k + 1  # one more: is there a next page?
        # With shares close to the query, GIFs a little further down may be lifted onto
        # the page (ranking.remember): look SHARE_DEPTH GIFs deeper.
        depth = wanted + (SHARE_DEPTH if closeness else 0)
        while True:
            lists, seen = [], []
            for (_, vectors), kinds in zip(parts, kinds_of, strict=True):
                found, rows = self._fused_gifs(vectors, kinds, depth, request.like)
                lists.append(found)
                seen += rows
            fused = lists[0] if len(lists) == 1 else fuse_queries(lists, [w for w, _ in parts])
            fused, lifted = remember(fused, closeness)
            known = self._gifs_known([g.gif_id for g in fused], seen)
            kept, dead, left_out, other_shape = [], 0, 0, 0
            for gif in fused:
                stored = known.get(gif.gif_id)
                if not request.include_dead and stored is not None and stored.dead:
                    dead += 1
                elif excludes(stored.descriptions if stored else (), excluded):
                    left_out += 1
                elif stored and not fits_aspect(request.aspect, stored.width, stored.height):
                    other_shape += 1
                else:
                    kept.append(gif)
            exhausted = all(len(found) < depth for found in lists)
            if len(kept) >= wanted or exhausted or depth >= MAX_DEPTH_GIFS:
                break
            depth = min(depth * 2, MAX_DEPTH_GIFS)
        end = request.offset + request.k
        page = kept[request.offset : end]
        floor = request.min_score
        shown = [g for g in page if floor is None or g.score >= floor]
        return HitList(
            make_hits(shown, known, lifted),
            held_back=len(page) - len(shown),
            hidden_dead=dead,
            excluded=left_out,
            other_shape=other_shape,
            has_more=len(kept) > end,
        )

    def _fused_gifs(
        self, vectors: Vectors, kinds: Sequence[str], depth: int, exclude_gif: str | None
    ) -> tuple[list[FusedGif], list[StoredRow]]:
        """Return the first `depth` GIFs of each kind's ranked list, fused, and every row
        read on the way (the rows a GIF's state is read from: its descriptions, its link)."""
        per_kind = depth * (FUSION_DEPTH if len(kinds) > 1 else 1)
        ranked: dict[str, list[ScoredGif]] = {}
        seen: list[StoredRow] = []
        for kind in kinds:
            if kind == RowKind.DESCRIPTION:
                rows = self._description_rows(vectors[kind], per_kind, exclude_gif)
                ranked[kind] = rank_rows(rows)[:per_kind]
            else:
                rows = self._nearest_rows(kind, vectors[kind], per_kind, exclude_gif)
                ranked[kind] = rank_rows(rows, BEST_ONLY)[:per_kind]
            seen += rows
        return fuse_ranks(ranked, prefer=RowKind.DESCRIPTION)[:depth], seen

    def refresh(self) -> None:
        """Reopen the store if another process wrote to it (and forget what was read of
        it: the catalog, the featured selection)."""
        if self.store.refresh_if_changed():
            self._catalog.drop()
            self._featured = None
            self._counts = None

    def gifs(self, gif_ids: Sequence[str]) -> list[StoredGif]:
        """Look GIFs up by id (not a search): each one the collection holds, in the order
        asked, once; an id it doesn't hold is left out."""
        wanted = list(dict.fromkeys(check_gif_id(gif_id) for gif_id in gif_ids))
        if not wanted:
            return []
        self.refresh()
        found = gifs_of_rows(self._rows_of_gifs(wanted, frames=True))
        return [found[gif_id] for gif_id in wanted if gif_id in found]

    def featured(
        self, k: int, offset: int = 0, include_dead: bool = False, aspect: str = Aspect.ALL
    ) -> HitList:
        """Return a page of what's trending: the GIFs people shared, most shared first, a
        share counting half as much a week later (store/usage.py), then the featured
        selection (retrieval/featured.py: stable and diverse); not a search: its hits have
        no score. GIFs known dead are left out unless include_dead, and GIFs of another
        shape than aspect."""
        shared = [gif_id for gif_id, _ in self._trending()][: MAX_OFFSET + MAX_K]
        diverse = self._featured_selection()
        first = self.gifs(shared) if shared else []
        taken = {gif.gif_id for gif in first}
        selection = first + [gif for gif in diverse if gif.gif_id not in taken]
        alive = [gif for gif in selection if include_dead or not gif.dead]
        shown = [gif for gif in alive if fits_aspect(aspect, gif.width, gif.height)]
        page = shown[offset : offset + k]
        return HitList(
            [hit_of(gif) for gif in page],
            hidden_dead=len(selection) - len(alive),
            other_shape=len(alive) - len(shown),
            has_more=len(shown) > offset + k,
        )

    def _trending(self) -> list[tuple[str, float]]:
        """The shared GIFs with their decayed share counts (none without usage)."""
        if self.usage is None:
            return []
        try:
            return self.usage.trending()
        except GifSearchError:
            return []

    def recent_shares(self, k: int) -> list[StoredGif]:
        """The GIFs shared most recently, latest first (the page's "Recent" row)."""
        if self.usage is None:
            return []
        try:
            recent = self.usage.recent_shares(k)
        except GifSearchError:
            return []
        return [gif for gif in self.gifs(recent) if not gif.dead] if recent else []

    def _featured_selection(self) -> list[StoredGif]:
        """The featured GIFs in order, as deep as a client may page (computed once per
        state of the store)."""
        self.refresh()
        with self._featured_lock:
            if self._featured is None:
                kind = RowKind.DESCRIPTION
                if not self.store.count_kind(kind) and self.store.has_kind(RowKind.FRAME):
                    kind = RowKind.FRAME  # a folder source: frames only
                rows, vectors = self.store.spread_rows(kind, POOL_PAGES, POOL_PAGE_ROWS)
                names, centres = gif_vectors([row.gif_id for row in rows], vectors)
                order = diverse_order(centres, MAX_OFFSET + MAX_K)
                self._featured = self.gifs([names[i] for i in order])
            return self._featured

    def _gifs_known(
        self, gif_ids: Sequence[str], seen: Sequence[StoredRow] = ()
    ) -> dict[str, StoredGif]:
        """Return these GIFs as the store knows them (descriptions, size, link state), from
        their rows (_rows_of_gifs); the rows a query read (seen) count too: a GIF any of
        whose rows is marked dead is dead (a GIF's newer rows carry no mark until the next
        check), and a folder GIF's frame rows carry its size and file."""
        rows = {row.row_id: row for row in seen}  # the query's own rows, read already
        for row in self._rows_of_gifs(gif_ids, have=rows.keys()):
            rows.setdefault(row.row_id, row)
        return gifs_of_rows(rows.values())

    def _rows_of_gifs(
        self, gif_ids: Sequence[str], frames: bool = False, have: Collection[str] = ()
    ) -> list[StoredRow]:
        """Return every stored row of these GIFs: read by id when the catalog is built
        (descriptions and frames; a cost in proportion to the rows read; rows whose ids are
        in have are not read again), else by one filter on their GIF ids (in proportion to
        the collection; frames too when asked)."""
        if not gif_ids:
            return []
        catalog = self._catalog.get(build=False)
        missing: Sequence[str] = gif_ids
        rows: list[StoredRow] = []
        if catalog is not None:
            by_kind, missing = catalog.row_ids_of(gif_ids)
            for kind, ids in by_kind.items():
                rows += self.store.rows_by_id([i for i in ids if i not in have], kind)
        if missing:  # no catalog, or GIFs newer than it
            rows += self.store.rows_for_gifs(missing)
            if frames and self.store.has_kind(RowKind.FRAME):
                rows += self.store.rows_for_gifs(missing, RowKind.FRAME)
        return rows

    def _description_rows(
        self,
        vector: np.ndarray,
        depth: int,
        exclude_gif: str | None = None,
        hidden_rows: Collection[str] = (),
    ) -> list[StoredRow]:
        """Return the nearest description rows of at least CANDIDATE_FACTOR x depth GIFs,
        nearest first: the rows that rank the first `depth` GIFs for a query. hidden_rows
        are left out as if not stored (eval's leave-one-out, through EvalProbe)."""
        return self._nearest_rows(
            RowKind.DESCRIPTION,
            vector,
            CANDIDATE_FACTOR * depth,
            exclude_gif,
            hidden_rows,
            ROWS_PER_CANDIDATE,
        )

    def _nearest_rows(
        self,
        kind: str,
        vector: np.ndarray,
        wanted_gifs: int,
        exclude_gif: str | None = None,
        hidden_rows: Collection[str] = (),
        rows_per_gif: int = ROWS_PER_FRAME_GIF,
    ) -> list[StoredRow]:
        """Return the nearest rows of one kind, nearest first, covering at least
        wanted_gifs GIFs (or every row there is); exclude_gif's and hidden rows left out."""
        n_results = (wanted_gifs + (1 if exclude_gif else 0)) * rows_per_gif + len(hidden_rows)
        while True:
            fetched = self.store.query(vector, n_results, kind)
            rows = [r for r in fetched if r.gif_id != exclude_gif and r.row_id not in hidden_rows]
            if len(best_row_per_gif(rows)) >= wanted_gifs or len(fetched) < n_results:
                return rows  # enough GIFs, or every row seen
            n_results *= 2

    def _gif_centres(self, gif_id: str) -> dict[str, np.ndarray]:
        """Return, per kind of row, the unit mean of a stored GIF's vectors (a kind it has
        none of gets the other kind's): what "more like this" searches with."""
        check_gif_id(gif_id)
        centres = {}
        for kind in tuple(RowKind):
            vectors = self.store.vectors_for_gif(gif_id, kind)
            if vectors.size:
                centres[kind] = unit_mean(vectors)
        if not centres:
            raise UnknownGifError(f"no GIF with id {gif_id!r} in this collection")
        fallback = next(iter(centres.values()))
        return {kind: centres.get(kind, fallback) for kind in tuple(RowKind)}

    def stats(self, wait: bool = True) -> CollectionStats:
        """Return the collection's name, GIF, description and frame counts, and model.

        GIFs are counted by the catalog, built in the background; without wait, gifs is
        None until it is built (a page answers at once whatever the collection's size).
        """
        self.refresh()
        descriptions, frames = self._row_counts()
        with self._stats_lock:
            known = self._stats
            counts = (descriptions, frames)
            if known is None or (known.descriptions, known.frames) != counts or known.gifs is None:
                known = self._stats = CollectionStats(
                    collection=self.store.collection_name,
                    gifs=self._gif_count(descriptions + frames, wait),
                    descriptions=descriptions,
                    model_name=self.binding.model_name,
                    frames=frames,
                )
            return known

    def _row_counts(self) -> tuple[int, int]:
        """The description and frame counts: an embedded store's once per state of its
        files (Chroma counts by passing over every row: 15 ms at 125,000 rows), a
        server's every time."""
        counts = self._counts
        if counts is None:
            counts = (
                self.store.count_kind(RowKind.DESCRIPTION),
                self.store.count_kind(RowKind.FRAME),
            )
            if self._sees_changes:
                self._counts = counts
        return counts

    def _gif_count(self, rows: int, wait: bool) -> int | None:
        """The number of GIFs among the collection's rows, from a catalog of exactly those
        rows (one older is dropped and built again); None while it is built, unless wait
        (then, should the build fail, counted by reading the store)."""
        for _ in range(2):
            if wait:
                catalog = self._catalog.wait()
            else:
                catalog = self._catalog.get(build=True, wait_s=STATS_WAIT_S)
            if catalog is None or catalog.rows == rows:
                break
            self._catalog.drop()  # older than the counts: another writer's rows
        if catalog is not None and catalog.rows == rows:
            return catalog.gif_count
        return self.store.count_gifs() if wait else None


def unit_mean(vectors: np.ndarray) -> np.ndarray:
    """Return the mean of the rows scaled to unit length."""
    centre = vectors.mean(axis=0)
    unit: np.ndarray = centre / (np.linalg.norm(centre) or 1.0)
    return unit


def hit_of(gif: StoredGif) -> SearchHit:
    """A GIF shown without a query (a lookup, the featured selection): no score."""
    first, *others = gif.descriptions or ("",)
    return SearchHit(
        gif_id=gif.gif_id,
        url=gif.url,
        score=0.0,
        description=first,
        other_descriptions=tuple(others),
        score_kind=ScoreKind.NONE,
        dead=gif.dead,
        width=gif.width,
        height=gif.height,
        link=gif.link,
        link_checked_at=gif.link_checked_at,
    )


def make_hits(
    top: Sequence[FusedGif], known: Mapping[str, StoredGif], lifted: Collection[str] = ()
) -> list[SearchHit]:
    """Turn fused GIFs into hits carrying each GIF's descriptions, size, link state and
    per-kind scores.

    A GIF's description is its best-matching description, else (matched by frames only)
    the first of its descriptions, else "". A kind's score is the GIF's score in that
    kind's list (its pooled description score; its nearest frame's cosine).
    """
    hits = []
    for gif in top:
        description_row = gif.rows.get(RowKind.DESCRIPTION)
        frame_row = gif.rows.get(RowKind.FRAME)
        stored = known.get(gif.gif_id)
        own = stored.descriptions if stored else ()
        best = description_row.description if description_row else (own[0] if own else "")
        hits.append(
            SearchHit(
                gif_id=gif.gif_id,
                url=next(iter(gif.rows.values())).url,
                score=gif.score,
                description=best,
                other_descriptions=tuple(d for d in own if d != best),
                description_score=gif.kind_scores.get(RowKind.DESCRIPTION),
                frame_score=gif.kind_scores.get(RowKind.FRAME),
                frame_index=frame_row.frame_index if frame_row else None,
                score_kind=ScoreKind.RANK_FUSION if gif.fused else ScoreKind.COSINE,
                dead=stored is not None and stored.dead,
                width=stored.width if stored else 0,
                height=stored.height if stored else 0,
                link=stored.link if stored else "",
                link_checked_at=stored.link_checked_at if stored else 0,
                remembered=gif.gif_id in lifted,
            )
        )
    return hits


def search(
    query: str, k: int = DEFAULT_K[FrontEnd.ENGINE], settings: Settings | None = None
) -> HitList:
    """Search the collection the settings point at for a sentence (opens it for this call)."""
    return SearchEngine.open(settings or Settings()).search(SearchRequest(query, k))
