"""The search function: query text or image -> ranked GIFs, one hit per GIF.

A collection may hold two kinds of row: descriptions (text vectors) and frames (image
vectors, in the sibling frames collection). Each kind is searched on its own with one
Chroma query for the nearest rows. Description rows are grouped by GIF and pooled
(search_app.ranking: soft-best, the best cosine plus a bonus of at most 0.02 when other
descriptions match nearly as well); a GIF's frame score is its nearest frame's cosine.
When only one kind has rows, a GIF's score is its score on that side. When both do, the
two ranked lists are merged by reciprocal-rank fusion (fuse_ranks): CLIP's text-to-text
cosines (~0.8 for a match) and text-to-image cosines (~0.3) live on different scales, so
ranks are compared, not cosines. An image query searches the frames (image to image) when
there are any, else the descriptions.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from search_app.catalog import CatalogKeeper
from search_app.embedder import Embedder, resolve_model_spec
from search_app.errors import (
    ConfigError,
    EmptyQueryError,
    ImagesUnsupportedError,
    QueryTooLongError,
)
from search_app.frames import query_frames
from search_app.query import excludes, parse_query
from search_app.ranking import (
    BEST_ONLY,
    DEFAULT_POOLING,
    FusedGif,
    Pooling,
    ScoredGif,
    best_row_per_gif,
    fuse_queries,
    fuse_ranks,
    rank_rows,
)
from search_app.records import RowKind, ScoreKind, SearchHit, StoredRow
from search_app.settings import Settings
from search_app.store import GifStore, ModelBinding, check_binding

if TYPE_CHECKING:
    from search_app.query_embedder import QueryEmbedder

MAX_K = 100
MAX_OFFSET = 500  # "load more" pages this deep at most
MAX_DEPTH_GIFS = 2_000  # GIFs ranked at most to fill a page past filters
DEFAULT_IMAGE_WEIGHT = 0.5  # an image's (or GIF's) share in a combined query
MAX_QUERY_CHARS = 1_000  # a sentence or two; the search box and the API take no more
MAX_QUERY_BYTES = 4_000  # the same in UTF-8 (4 bytes a character at most)
GIF_ID_PATTERN = re.compile(r"[0-9a-f]{32}")  # records.make_gif_id: 16 bytes, in hex
FUSION_DEPTH = 2  # with both kinds, each kind's list is FUSION_DEPTH x k GIFs deep
# GIFs whose rows are fetched per wanted GIF, and rows first fetched per such GIF (too few
# and nearest_rows asks again for twice as many); docs/results.md, "Design measurements".
CANDIDATE_FACTOR = 3
ROWS_PER_CANDIDATE = 2
ROWS_PER_FRAME_GIF = 4  # frames: a GIF has up to 3 frames by default
SEARCH_BY_IMAGE_HINT = "ingest with --model clip to search by image"
INGEST_FRAMES_HINT = "use --model clip and another --collection to ingest frames"

EmbedderLoader = Callable[[str, Settings], "QueryEmbedder | Embedder"]


class Scope(StrEnum):
    """Which description rows a GIF's score pools."""

    NEAREST_ROWS = "nearest-rows"  # its rows among the query's nearest (one Chroma call)
    ALL_DESCRIPTIONS = "all-descriptions"  # every description it has (a second call)


@dataclass(frozen=True)
class CollectionStats:
    """What the status line shows about the open collection."""

    collection: str
    gifs: int
    descriptions: int
    model_name: str
    frames: int = 0


@dataclass(frozen=True)
class Candidates:
    """The description rows one query's ranking pools, nearest first.

    cosines are the rows' cosines to the query (from stored vectors with the
    all-descriptions scope; None: each row's 1 - distance).
    """

    rows: list[StoredRow]
    cosines: np.ndarray | None = None

    def rank(self, pooling: Pooling = DEFAULT_POOLING) -> list[ScoredGif]:
        """Return the GIFs ranked by their pooled description cosines, best first."""
        return rank_rows(self.rows, pooling, self.cosines)


@dataclass(frozen=True)
class SearchOptions:
    """How a search pages and filters: results offset .. offset + k, a score floor, and
    whether GIFs known dead are shown; image_weight is an image's (or a stored GIF's)
    share when it joins a text query (their rankings fused by weighted rank)."""

    offset: int = 0
    min_score: float | None = None
    include_dead: bool = False
    image_weight: float = DEFAULT_IMAGE_WEIGHT

    def __post_init__(self) -> None:
        if isinstance(self.offset, bool) or not isinstance(self.offset, int):
            raise ConfigError(f"offset {self.offset!r} is not a whole number")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise ConfigError(f"offset {self.offset} is out of range: use 0 to {MAX_OFFSET}")
        if self.min_score is not None and not (
            isinstance(self.min_score, int | float) and -1.0 <= self.min_score <= 1.0
        ):
            raise ConfigError(f"min score {self.min_score!r} is not a number from -1 to 1")
        if not (isinstance(self.image_weight, int | float) and 0.0 <= self.image_weight <= 1.0):
            raise ConfigError(f"image weight {self.image_weight!r} is not a number from 0 to 1")


class HitList(list[SearchHit]):
    """Hits, best first, and what the search left out: hits under the floor (held_back),
    GIFs known dead and GIFs mentioning an excluded term; has_more: a next page exists."""

    def __init__(
        self,
        hits: Sequence[SearchHit] = (),
        held_back: int = 0,
        hidden_dead: int = 0,
        excluded: int = 0,
        has_more: bool = False,
    ) -> None:
        super().__init__(hits)
        self.held_back = held_back
        self.hidden_dead = hidden_dead
        self.excluded = excluded
        self.has_more = has_more


def mix(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """Return the unit vector of (1 - weight) x first + weight x second."""
    vector = (1.0 - weight) * np.asarray(first, np.float32) + weight * np.asarray(
        second, np.float32
    )
    return vector / (np.linalg.norm(vector) or 1.0)


def images_unsupported(collection: str, model_name: str, hint: str) -> ImagesUnsupportedError:
    """Return the one-line error for asking a text-only collection to handle images."""
    return ImagesUnsupportedError(
        f'collection "{collection}" uses {model_name}, which can\'t embed images; {hint}'
    )


class SearchEngine:
    """A store plus the embedder of the model its collection is bound to."""

    def __init__(
        self, store: GifStore, embedder: QueryEmbedder | Embedder, binding: ModelBinding
    ) -> None:
        check_binding(binding, embedder.name, embedder.dimension, store.collection_name)
        self.store = store
        self.embedder = embedder
        self.binding = binding
        self._stats: CollectionStats | None = None
        self._stats_lock = threading.Lock()  # web handlers share one engine
        # A server store changes with no files here to watch (refresh_if_changed can't
        # tell), so only an embedded store's rows are kept in memory.
        self._catalog = CatalogKeeper(self._catalog_rows, enabled=not store.settings.chroma_host)
        self._answered = 0  # queries answered: an engine past its first keeps a catalog

    def _catalog_rows(self) -> list[StoredRow]:
        """What the catalog holds: description rows with their documents, frame rows
        without (it counts their GIFs and dead marks only)."""
        descriptions = self.store.read_all((RowKind.DESCRIPTION,))
        return descriptions + self.store.read_all((RowKind.FRAME,), documents=False)

    @classmethod
    def open(
        cls,
        settings: Settings,
        loader: EmbedderLoader | None = None,
        need_images: bool = False,
    ) -> SearchEngine:
        """Open the collection and load the query embedder of the model it was built with
        (search_app.query_embedder: ONNX when built and verified, else sentence-transformers).

        With model 'auto' the recorded model is used; a named model must match it. With
        need_images, a collection recorded as text-only fails before any model loads.
        """
        if loader is None:
            from search_app.query_embedder import load_query_embedder as loader
        store = GifStore(settings)
        binding = store.require_binding()
        if settings.model != "auto":
            asked = resolve_model_spec(settings.model)
            check_binding(binding, asked.name, binding.dimension, store.collection_name)
        if need_images and binding.images is False:
            raise images_unsupported(
                store.collection_name, binding.model_name, SEARCH_BY_IMAGE_HINT
            )
        return cls(store, loader(binding.model, settings), binding)

    @property
    def supports_images(self) -> bool:
        """Whether this collection's model can embed an image query (CLIP-family)."""
        return self.embedder.supports_images

    def search(
        self,
        query: str,
        k: int = 10,
        options: SearchOptions | None = None,
        image: Image.Image | None = None,
        like: str | None = None,
    ) -> HitList:
        """Return up to k GIFs best matching query, best first.

        The query language (search_app.query) leaves out GIFs that mention a -word or a
        -"phrase". With image (CLIP collections) or like (a stored GIF's id), the query is
        that text combined with the image or the GIF: the two rankings fused by rank, the
        image's (or GIF's) share options.image_weight. options also pages (offset), sets a
        floor (min_score) and shows GIFs known dead (include_dead).
        """
        options = options or SearchOptions()
        parsed = parse_query(clean_query(query))
        validate_k(k)
        text = dict.fromkeys(tuple(RowKind), self.embedder.embed_query(parsed.text))
        weight = options.image_weight
        if image is not None:
            picture = self.image_query(image)
            parts = [(1.0 - weight, text), (weight, picture)]
            return self.rank_parts(parts, k, excluded=parsed.excluded, options=options)
        if like is not None:
            parts = [(1.0 - weight, text), (weight, self.gif_centres(like))]
            return self.rank_parts(parts, k, like, excluded=parsed.excluded, options=options)
        return self.rank(text, k, excluded=parsed.excluded, options=options)

    def image_vector(self, image: Image.Image) -> np.ndarray:
        """Embed an image query (a GIF as the mean of its picked frames); CLIP only."""
        if not self.supports_images:
            raise images_unsupported(
                self.store.collection_name, self.binding.model_name, SEARCH_BY_IMAGE_HINT
            )
        return unit_mean(self.embedder.embed_images(query_frames(image)))

    def search_image(
        self, image: Image.Image, k: int = 10, options: SearchOptions | None = None
    ) -> HitList:
        """Return up to k GIFs most like an image, best first.

        The frames are searched (image to image) when the collection has any; else the
        descriptions (image to text, CLIP's zero-shot matching). Fusing both would let a
        GIF whose frame is the very image lose to one whose description happens to rank
        high.
        """
        validate_k(k)
        return self.rank(self.image_query(image), k, options=options)

    def image_query(self, image: Image.Image) -> dict[str, np.ndarray]:
        """The vectors an image searches with: its frames' (image to image) when the
        collection has any, else its descriptions' (image to text)."""
        vector = self.image_vector(image)
        self.refresh()
        kind = RowKind.FRAME if self.store.count_kind(RowKind.FRAME) else RowKind.DESCRIPTION
        return {kind: vector}

    def rank(
        self,
        vectors: Mapping[str, np.ndarray],
        k: int,
        exclude_gif: str | None = None,
        pooling: Pooling = DEFAULT_POOLING,
        scope: Scope = Scope.NEAREST_ROWS,
        excluded: Sequence[Sequence[str]] = (),
        options: SearchOptions | None = None,
    ) -> HitList:
        """Search each kind of row with its vector, fuse per GIF, leave out the GIFs known
        dead (unless options.include_dead) and those mentioning an excluded term, and return
        the page options.offset .. + k, less the hits under options.min_score."""
        return self.rank_parts([(1.0, vectors)], k, exclude_gif, pooling, scope, excluded, options)

    def rank_parts(
        self,
        parts: Sequence[tuple[float, Mapping[str, np.ndarray]]],
        k: int,
        exclude_gif: str | None = None,
        pooling: Pooling = DEFAULT_POOLING,
        scope: Scope = Scope.NEAREST_ROWS,
        excluded: Sequence[Sequence[str]] = (),
        options: SearchOptions | None = None,
    ) -> HitList:
        """rank() for a query of several weighted parts (text, an image, a stored GIF):
        each part is ranked as a search of its own and their lists are fused by weighted
        reciprocal rank (ranking.fuse_queries); one part is ranked as it is."""
        options = options or SearchOptions()
        self.refresh()
        self._catalog.get(build=self._answered > 0)  # from the second query on: keep one
        self._answered += 1
        # No count() per query: Chroma answers n_results beyond a collection's size with
        # every row it has, which is how nearest_rows knows it has seen them all.
        parts = [(weight, vectors) for weight, vectors in parts if weight > 0] or parts[:1]
        kinds_of = [[kind for kind in vectors if self.store.has_kind(kind)] for _, vectors in parts]
        wanted = options.offset + k + 1  # one more: is there a next page?
        depth = wanted
        while True:
            lists, seen = [], []
            for (_, vectors), kinds in zip(parts, kinds_of, strict=True):
                found, rows = self.fused_gifs(vectors, kinds, depth, exclude_gif, pooling, scope)
                lists.append(found)
                seen += rows
            fused = lists[0] if len(lists) == 1 else fuse_queries(lists, [w for w, _ in parts])
            texts, dead_gifs = self.gifs_known([g.gif_id for g in fused], seen)
            kept, dead, left_out = [], 0, 0
            for gif in fused:
                if not options.include_dead and gif.gif_id in dead_gifs:
                    dead += 1
                elif excludes(texts.get(gif.gif_id, ()), excluded):
                    left_out += 1
                else:
                    kept.append(gif)
            exhausted = all(len(found) < depth for found in lists)
            if len(kept) >= wanted or exhausted or depth >= MAX_DEPTH_GIFS:
                break
            depth = min(depth * 2, MAX_DEPTH_GIFS)
        page = kept[options.offset : options.offset + k]
        shown = [g for g in page if options.min_score is None or g.score >= options.min_score]
        return HitList(
            make_hits(shown, texts, dead_gifs),
            held_back=len(page) - len(shown),
            hidden_dead=dead,
            excluded=left_out,
            has_more=len(kept) > options.offset + k,
        )

    def fused_gifs(
        self,
        vectors: Mapping[str, np.ndarray],
        kinds: Sequence[str],
        depth: int,
        exclude_gif: str | None,
        pooling: Pooling,
        scope: Scope,
    ) -> tuple[list[FusedGif], list[StoredRow]]:
        """Return the first `depth` GIFs of each kind's ranked list, fused, and every row
        read on the way (the rows a GIF's state is read from: its descriptions, its link)."""
        per_kind = depth * (FUSION_DEPTH if len(kinds) > 1 else 1)
        ranked: dict[str, list[ScoredGif]] = {}
        seen: list[StoredRow] = []
        for kind in kinds:
            if kind == RowKind.DESCRIPTION:
                candidates = self.description_candidates(
                    vectors[kind], per_kind, exclude_gif, scope=scope
                )
                ranked[kind] = candidates.rank(pooling)[:per_kind]
                seen += candidates.rows
            else:
                rows = self.nearest_rows(kind, vectors[kind], per_kind, exclude_gif)
                ranked[kind] = rank_rows(rows, BEST_ONLY)[:per_kind]
                seen += rows
        return fuse_ranks(ranked, prefer=RowKind.DESCRIPTION)[:depth], seen

    def refresh(self) -> None:
        """Reopen the store if another process wrote to it (and forget the catalog)."""
        if self.store.refresh_if_changed():
            self._catalog.drop()

    def gifs_known(
        self, gif_ids: list[str], seen: Sequence[StoredRow] = ()
    ) -> tuple[dict[str, tuple[str, ...]], set[str]]:
        """Return these GIFs' descriptions, and which of them the link checker found dead
        (any row of theirs marked so: a GIF's newer rows carry no mark until the next
        check). From the catalog when the engine keeps one (from its second query on),
        else from the rows read so far and one call to the store."""
        catalog = self._catalog.get(build=False)
        dead = {row.gif_id for row in seen if row.is_dead}
        if catalog is not None:
            texts = {gif: catalog.descriptions(gif) for gif in gif_ids}
            return texts, dead | (catalog.dead & set(gif_ids))
        rows = self.store.rows_for_gifs(list(gif_ids))
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.gif_id, []).append(row.description)
            if row.is_dead:
                dead.add(row.gif_id)
        return {gif: tuple(sorted(found.get(gif, []))) for gif in gif_ids}, dead

    def description_candidates(
        self,
        vector: np.ndarray,
        depth: int,
        exclude_gif: str | None = None,
        hidden_rows: Collection[str] = (),
        scope: Scope = Scope.NEAREST_ROWS,
    ) -> Candidates:
        """Return the description rows that rank the first `depth` GIFs for a query.

        The nearest rows of at least CANDIDATE_FACTOR x depth GIFs; with the
        all-descriptions scope, every description of those GIFs instead, with cosines
        from their stored vectors. hidden_rows are left out as if not stored (eval's
        leave-one-out).
        """
        wanted = CANDIDATE_FACTOR * depth
        rows = self.nearest_rows(
            RowKind.DESCRIPTION, vector, wanted, exclude_gif, hidden_rows, ROWS_PER_CANDIDATE
        )
        if scope is Scope.NEAREST_ROWS:
            return Candidates(rows)
        gif_ids = list(best_row_per_gif(rows))[:wanted]
        every, matrix = self.store.rows_and_vectors_for_gifs(gif_ids, RowKind.DESCRIPTION)
        keep = [i for i, row in enumerate(every) if row.row_id not in hidden_rows]
        if not keep:
            return Candidates([])
        cosines = matrix[keep] @ np.asarray(vector, dtype=np.float32)
        order = np.argsort(-cosines, kind="stable")
        return Candidates([every[keep[i]] for i in order], cosines[order])

    def nearest_rows(
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
        catalog = self._catalog.get(build=False) if kind == RowKind.DESCRIPTION else None
        while True:
            fetched = None
            if catalog is not None:  # ids and distances only; the catalog has the rest
                fetched = catalog.rows_at(self.store.query_distances(vector, n_results, kind))
            if fetched is None:
                fetched = self.store.query(vector, n_results, kind)
            rows = [r for r in fetched if r.gif_id != exclude_gif and r.row_id not in hidden_rows]
            if len(best_row_per_gif(rows)) >= wanted_gifs or len(fetched) < n_results:
                return rows  # enough GIFs, or every row seen
            n_results *= 2

    def similar(self, gif_id: str, k: int = 10, options: SearchOptions | None = None) -> HitList:
        """Return up to k GIFs most like a stored GIF, excluding it.

        Each kind is searched with the mean of the GIF's own vectors of that kind (or of
        the other kind, when it has none of this one).
        """
        validate_k(k)
        return self.rank(self.gif_centres(gif_id), k, gif_id, options=options)

    def gif_centres(self, gif_id: str) -> dict[str, np.ndarray]:
        """Return, per kind of row, the unit mean of a stored GIF's vectors (a kind it has
        none of gets the other kind's)."""
        check_gif_id(gif_id)
        centres = {}
        for kind in tuple(RowKind):
            vectors = self.store.vectors_for_gif(gif_id, kind)
            if vectors.size:
                centres[kind] = unit_mean(vectors)
        if not centres:
            raise ConfigError(f"no GIF with id {gif_id!r} in this collection")
        fallback = next(iter(centres.values()))
        return {kind: centres.get(kind, fallback) for kind in tuple(RowKind)}

    def stats(self) -> CollectionStats:
        """Return the collection's name, GIF, description and frame counts, and model.

        GIFs are counted from the catalog (or, while it is being kept from rebuilding, by
        reading every row's metadata), redone only when a row count changed.
        """
        descriptions = self.store.count_kind(RowKind.DESCRIPTION)
        frames = self.store.count_kind(RowKind.FRAME)
        with self._stats_lock:
            known = self._stats
            if known is None or (known.descriptions, known.frames) != (descriptions, frames):
                catalog = self._catalog.get(build=True)
                if catalog is not None and catalog.rows == descriptions + frames:
                    gifs = catalog.gif_count
                else:  # the catalog is older than the counts: count from the store
                    gifs = self.store.count_gifs()
                known = self._stats = CollectionStats(
                    collection=self.store.collection_name,
                    gifs=gifs,
                    descriptions=descriptions,
                    model_name=self.binding.model_name,
                    frames=frames,
                )
            return known


def unit_mean(vectors: np.ndarray) -> np.ndarray:
    """Return the mean of the rows scaled to unit length."""
    centre = vectors.mean(axis=0)
    return centre / (np.linalg.norm(centre) or 1.0)


def clean_query(query: str) -> str:
    """Return the query with whitespace collapsed, refusing (in one line that does not
    repeat it) what isn't a sentence: not text, too long, not valid Unicode, or empty."""
    if not isinstance(query, str):  # API callers can send any JSON value
        raise ConfigError(f"the query must be text, not {type(query).__name__}")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryTooLongError(
            f"the query is {len(query):,} characters long: keep it to {MAX_QUERY_CHARS:,}"
        )
    try:
        size = len(query.encode("utf-8"))
    except UnicodeEncodeError:  # e.g. invalid UTF-8 on the command line (lone surrogates)
        raise ConfigError("the query is not valid text (invalid UTF-8): retype it") from None
    if size > MAX_QUERY_BYTES:
        raise QueryTooLongError(f"the query is {size:,} bytes: keep it to {MAX_QUERY_BYTES:,}")
    text = " ".join(query.split())
    if not text:
        raise EmptyQueryError("the query is empty: type what should happen in the GIF")
    return text


def check_gif_id(gif_id: object) -> str:
    """Return gif_id when it is a GIF id (32 hex digits); raise ConfigError otherwise,
    quoting no more of it than a short prefix."""
    if not isinstance(gif_id, str):
        raise ConfigError(f"a GIF id is text, not {type(gif_id).__name__}")
    if not GIF_ID_PATTERN.fullmatch(gif_id):
        shown = gif_id[:40] + ("…" if len(gif_id) > 40 else "")
        raise ConfigError(f"{shown!r} is not a GIF id (32 hexadecimal digits)")
    return gif_id


def validate_k(k: int) -> None:
    """Raise ConfigError unless 1 <= k <= MAX_K."""
    if not 1 <= k <= MAX_K:
        raise ConfigError(f"k={k} is out of range: use 1 to {MAX_K}")


def make_hits(
    top: list[FusedGif], texts: dict[str, tuple[str, ...]], dead: Collection[str] = ()
) -> list[SearchHit]:
    """Turn fused GIFs into hits carrying each GIF's descriptions and per-kind scores.

    A GIF's description is its best-matching description, else (matched by frames only)
    the first of its descriptions, else "". A kind's score is the GIF's score in that
    kind's list (its pooled description score; its nearest frame's cosine).
    """
    hits = []
    for gif in top:
        description_row = gif.rows.get(RowKind.DESCRIPTION)
        frame_row = gif.rows.get(RowKind.FRAME)
        own = texts.get(gif.gif_id, ())
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
                dead=gif.gif_id in dead,
            )
        )
    return hits


def search(query: str, k: int = 10, settings: Settings | None = None) -> HitList:
    """Search the collection the settings point at (opens it for this one call)."""
    return SearchEngine.open(settings or Settings()).search(query, k)
