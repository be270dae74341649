"""The search function: query text or image -> ranked GIFs, one hit per GIF.

A collection may hold two kinds of row: descriptions (text vectors) and frames (image
vectors, in the sibling frames collection). Each kind is searched on its own and grouped
to one row per GIF (its nearest). On the description side the first RERANK_FACTOR x k
GIFs are then re-scored by all their descriptions: score = (best cosine + mean cosine over
the GIF's descriptions) / 2, which is the plain cosine for a GIF with one description
(`gifsearch eval` measured it against best-only, mean and centroid scoring: recall@10
0.578 -> 0.601 on the bundled sample; docs/results.md). A frame's score is the cosine of
the GIF's nearest frame. When only one kind has rows, a GIF's score is its score on that
side. When both do, the two ranked lists are merged by reciprocal-rank fusion
(fuse_ranks): CLIP's text-to-text cosines (~0.8 for a match) and text-to-image cosines
(~0.3 for a match) live on different scales, so ranks are compared, not cosines. An
image query searches the frames (image to image) when there are any, else the
descriptions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from search_app.embedder import Embedder, load_embedder, resolve_model_spec
from search_app.errors import ConfigError, EmptyQueryError, ImagesUnsupportedError
from search_app.frames import query_frames
from search_app.records import (
    KIND_DESCRIPTION,
    KIND_FRAME,
    ROW_KINDS,
    SCORE_COSINE,
    SCORE_RANK_FUSION,
    SearchHit,
    StoredRow,
)
from search_app.settings import Settings
from search_app.store import GifStore, ModelBinding, check_binding

MAX_K = 100
OVERFETCH = 4  # rows fetched per wanted GIF: GIFs have up to ~4 descriptions (or 3 frames)
RRF_K = 60  # reciprocal-rank fusion constant (Cormack, Clarke & Buettcher, SIGIR 2009)
FUSION_DEPTH = 2  # with both kinds, each kind's list is FUSION_DEPTH x k GIFs deep
# Description candidates re-scored per wanted GIF. In eval (k = 10), re-scoring the first
# 20, 30, 50 or all GIFs of the nearest 400 rows gave recall@10 within 0.003 of each other.
RERANK_FACTOR = 3
# Rows first fetched per candidate GIF: the nearest rows are ~1.2 per GIF (60 rows gave 53
# GIFs on average for 30 wanted, 20k rows); too few and nearest_gifs asks again for twice.
CANDIDATE_OVERFETCH = 2
SEARCH_BY_IMAGE_HINT = "ingest with --model clip to search by image"
INGEST_FRAMES_HINT = "use --model clip and another --collection to ingest frames"

EmbedderLoader = Callable[[str, Settings], Embedder]


def load_for_settings(model: str, settings: Settings) -> Embedder:
    """Load a model with the device, precision and timeout the settings ask for."""
    return load_embedder(model, settings.device, settings.precision, settings.network_timeout_s)


@dataclass(frozen=True)
class CollectionStats:
    """What the status line shows about the open collection."""

    collection: str
    gifs: int
    descriptions: int
    model_name: str
    frames: int = 0


@dataclass(frozen=True)
class FusedGif:
    """One GIF after fusion: its score and its nearest row of each kind that matched."""

    gif_id: str
    score: float
    rows: Mapping[str, StoredRow]
    score_kind: str = SCORE_COSINE


def images_unsupported(collection: str, model_name: str, hint: str) -> ImagesUnsupportedError:
    """Return the one-line error for asking a text-only collection to handle images."""
    return ImagesUnsupportedError(
        f'collection "{collection}" uses {model_name}, which can\'t embed images; {hint}'
    )


class SearchEngine:
    """A store plus the embedder of the model its collection is bound to."""

    def __init__(self, store: GifStore, embedder: Embedder, binding: ModelBinding) -> None:
        check_binding(binding, embedder.name, embedder.dimension, store.collection_name)
        self.store = store
        self.embedder = embedder
        self.binding = binding
        self._stats: CollectionStats | None = None
        self._stats_lock = threading.Lock()  # web handlers share one engine

    @classmethod
    def open(
        cls,
        settings: Settings,
        loader: EmbedderLoader = load_for_settings,
        need_images: bool = False,
    ) -> SearchEngine:
        """Open the collection and load the model it was built with.

        With model 'auto' the recorded model is used; a named model must match it. With
        need_images, a collection recorded as text-only fails before any model loads.
        """
        if not settings.chroma_host and not settings.store_dir.exists():
            GifStore.raise_missing(settings)
        store = GifStore.open(settings)
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

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        """Return up to k GIFs best matching query, best first."""
        text = clean_query(query)
        validate_k(k)
        return self.search_vector(self.embedder.embed_query(text), k)

    def search_image(self, image: Image.Image, k: int = 10) -> list[SearchHit]:
        """Return up to k GIFs most like an image, best first.

        An animated GIF is embedded as the mean of its picked frames. The frames are
        searched (image to image) when the collection has any; else the descriptions
        (image to text, CLIP's zero-shot matching). Fusing both would let a GIF whose
        frame is the very image lose to one whose description happens to rank high.
        """
        validate_k(k)
        if not self.supports_images:
            raise images_unsupported(
                self.store.collection_name, self.binding.model_name, SEARCH_BY_IMAGE_HINT
            )
        vector = unit_mean(self.embedder.embed_images(query_frames(image)))
        self.store.refresh_if_changed()
        kind = KIND_FRAME if self.store.count_kind(KIND_FRAME) else KIND_DESCRIPTION
        return self.rank({kind: vector}, k)

    def search_vector(
        self, vector: np.ndarray, k: int, exclude_gif: str | None = None
    ) -> list[SearchHit]:
        """Return up to k GIFs nearest to a unit vector, grouped by GIF, best first."""
        return self.rank(dict.fromkeys(ROW_KINDS, vector), k, exclude_gif)

    def rank(
        self, vectors: Mapping[str, np.ndarray], k: int, exclude_gif: str | None = None
    ) -> list[SearchHit]:
        """Search each kind of row with its vector, fuse per GIF, return the top k hits."""
        self.store.refresh_if_changed()
        # No count() per query: Chroma answers n_results beyond a collection's size with
        # every row it has, which is how nearest_gifs knows it has seen them all.
        kinds = [kind for kind in vectors if self.store.has_kind(kind)]
        depth = k * (FUSION_DEPTH if len(kinds) > 1 else 1)
        ranked: dict[str, list[StoredRow]] = {}
        described: list[StoredRow] = []
        for kind in kinds:
            if kind == KIND_DESCRIPTION:
                wanted = RERANK_FACTOR * depth
                candidates = self.nearest_gifs(
                    kind, vectors[kind], wanted, exclude_gif, CANDIDATE_OVERFETCH
                )[:wanted]
                described, matrix = self.store.rows_and_vectors_for_gifs(
                    [row.gif_id for row in candidates], kind
                )
                scored = rescore_by_all_descriptions(candidates, described, matrix, vectors[kind])
                ranked[kind] = scored[:depth]
            else:
                ranked[kind] = self.nearest_gifs(kind, vectors[kind], depth, exclude_gif)
        top = fuse_ranks(ranked)[:k]
        have = {row.gif_id for row in described}
        described += self.store.rows_for_gifs([g.gif_id for g in top if g.gif_id not in have])
        return make_hits(top, described)

    def nearest_gifs(
        self,
        kind: str,
        vector: np.ndarray,
        wanted: int,
        exclude_gif: str | None,
        overfetch: int = OVERFETCH,
    ) -> list[StoredRow]:
        """Return the nearest row of each of (at least) wanted GIFs, nearest first."""
        n_results = (wanted + (1 if exclude_gif else 0)) * overfetch
        while True:
            rows = self.store.query(vector, n_results, kind)
            best = best_row_per_gif(rows, exclude_gif)
            if len(best) >= wanted or len(rows) < n_results:  # enough, or every row seen
                break
            n_results *= 2
        return sorted(best.values(), key=lambda row: row.distance or 0.0)

    def similar(self, gif_id: str, k: int = 10) -> list[SearchHit]:
        """Return up to k GIFs most like a stored GIF, excluding it.

        Each kind is searched with the mean of the GIF's own vectors of that kind (or of
        the other kind, when it has none of this one).
        """
        validate_k(k)
        centres = {}
        for kind in ROW_KINDS:
            vectors = self.store.vectors_for_gif(gif_id, kind)
            if vectors.size:
                centres[kind] = unit_mean(vectors)
        if not centres:
            raise ConfigError(f"no GIF with id {gif_id!r} in this collection")
        fallback = next(iter(centres.values()))
        return self.rank({kind: centres.get(kind, fallback) for kind in ROW_KINDS}, k, gif_id)

    def stats(self) -> CollectionStats:
        """Return the collection's name, GIF, description and frame counts, and model.

        GIFs are counted by reading every row's metadata, so that count is redone only
        when the description or frame count changed since the last call.
        """
        descriptions = self.store.count_kind(KIND_DESCRIPTION)
        frames = self.store.count_kind(KIND_FRAME)
        with self._stats_lock:
            known = self._stats
            if known is None or (known.descriptions, known.frames) != (descriptions, frames):
                known = self._stats = CollectionStats(
                    collection=self.store.collection_name,
                    gifs=self.store.count_gifs(),
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
    """Return the query with whitespace collapsed; raise EmptyQueryError when nothing is left."""
    if not isinstance(query, str):  # API callers can send any JSON value
        raise ConfigError(f"the query must be text, not {type(query).__name__}")
    text = " ".join(query.split())
    if not text:
        raise EmptyQueryError("the query is empty: type what should happen in the GIF")
    return text


def validate_k(k: int) -> None:
    """Raise ConfigError unless 1 <= k <= MAX_K."""
    if not 1 <= k <= MAX_K:
        raise ConfigError(f"k={k} is out of range: use 1 to {MAX_K}")


def best_row_per_gif(rows: list[StoredRow], exclude_gif: str | None) -> dict[str, StoredRow]:
    """Keep the nearest row of each GIF (rows come nearest first)."""
    best: dict[str, StoredRow] = {}
    for row in rows:
        if row.gif_id != exclude_gif and row.gif_id not in best:
            best[row.gif_id] = row
    return best


def rescore_by_all_descriptions(
    candidates: list[StoredRow], rows: list[StoredRow], vectors: np.ndarray, query: np.ndarray
) -> list[StoredRow]:
    """Re-rank GIFs (their nearest description each) by all their descriptions.

    rows and vectors are every description of the candidates' GIFs. A GIF's score is
    (best cosine + mean cosine of its descriptions) / 2; ties keep the better best cosine,
    then the candidates' order. Each GIF's nearest row is handed on with distance =
    1 - score, so fusion and hits see the new score.
    """
    cosines = vectors @ query.astype(np.float32) if len(rows) else np.zeros(0)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for row, cosine in zip(rows, cosines, strict=True):
        sums[row.gif_id] = sums.get(row.gif_id, 0.0) + float(cosine)
        counts[row.gif_id] = counts.get(row.gif_id, 0) + 1
    scored = []
    for row in candidates:
        best = 1.0 - float(row.distance or 0.0)
        count = counts.get(row.gif_id, 0)
        mean = sums[row.gif_id] / count if count else best  # rows gone since the query
        scored.append(((best + mean) / 2.0, best, row))
    scored.sort(key=lambda item: (-item[0], -item[1]))  # stable: candidates' order next
    return [replace(row, distance=1.0 - score) for score, _, row in scored]


def fuse_ranks(ranked: Mapping[str, list[StoredRow]]) -> list[FusedGif]:
    """Merge per-kind lists (each one row per GIF, nearest first) into one list of GIFs.

    One non-empty list: its order and cosines, unchanged. Several: reciprocal-rank fusion,
    score = (RRF_K + 1) / n_kinds x sum over kinds of 1 / (RRF_K + rank), where a GIF
    missing from a kind's list adds nothing. A GIF first in every list scores 1.0; first
    in one of two lists and absent from the other, ~0.5.
    """
    kinds = [kind for kind, rows in ranked.items() if rows]
    if not kinds:  # an empty collection, or its only GIF left out by "more like this"
        return []
    if len(kinds) == 1:
        rows = ranked[kinds[0]]
        return [FusedGif(r.gif_id, 1.0 - float(r.distance or 0.0), {kinds[0]: r}) for r in rows]
    found: dict[str, dict[str, StoredRow]] = {}
    scores: dict[str, float] = {}
    for kind in kinds:
        for rank, row in enumerate(ranked[kind], start=1):
            found.setdefault(row.gif_id, {})[kind] = row
            scores[row.gif_id] = scores.get(row.gif_id, 0.0) + 1.0 / (RRF_K + rank)
    scale = (RRF_K + 1) / len(kinds)
    fused = [
        FusedGif(gif_id, scores[gif_id] * scale, rows, SCORE_RANK_FUSION)
        for gif_id, rows in found.items()
    ]
    # Equal scores: the GIF whose description matched first (people wrote those), then id.
    return sorted(fused, key=lambda g: (-g.score, KIND_DESCRIPTION not in g.rows, g.gif_id))


def make_hits(top: list[FusedGif], described: list[StoredRow]) -> list[SearchHit]:
    """Turn fused GIFs into hits carrying each GIF's descriptions and per-kind scores.

    A GIF's description is its matching description, else (matched by frames only) the
    first of its descriptions, else "".
    """
    texts: dict[str, list[str]] = {}
    for row in described:
        texts.setdefault(row.gif_id, []).append(row.description)
    hits = []
    for gif in top:
        description_row = gif.rows.get(KIND_DESCRIPTION)
        frame_row = gif.rows.get(KIND_FRAME)
        own = sorted(texts.get(gif.gif_id, []))
        best = description_row.description if description_row else (own[0] if own else "")
        hits.append(
            SearchHit(
                gif_id=gif.gif_id,
                url=next(iter(gif.rows.values())).url,
                score=gif.score,
                description=best,
                other_descriptions=tuple(d for d in own if d != best),
                description_score=_cosine(description_row),
                frame_score=_cosine(frame_row),
                frame_index=frame_row.frame_index if frame_row else None,
                score_kind=gif.score_kind,
            )
        )
    return hits


def _cosine(row: StoredRow | None) -> float | None:
    return None if row is None else 1.0 - float(row.distance or 0.0)


def search(query: str, k: int = 10, settings: Settings | None = None) -> list[SearchHit]:
    """Search the collection the settings point at (opens it for this one call)."""
    return SearchEngine.open(settings or Settings()).search(query, k)
