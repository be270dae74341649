"""The search function: query text -> ranked GIFs, one hit per GIF, scored by cosine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from search_app.embedder import Embedder, load_embedder, resolve_model_spec
from search_app.errors import ConfigError, EmptyQueryError
from search_app.records import SearchHit, StoredRow
from search_app.settings import Settings
from search_app.store import GifStore, ModelBinding, check_binding

MAX_K = 100
OVERFETCH = 4  # rows fetched per wanted GIF: GIFs have up to ~4 descriptions

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


class SearchEngine:
    """A store plus the embedder of the model its collection is bound to."""

    def __init__(self, store: GifStore, embedder: Embedder, binding: ModelBinding) -> None:
        check_binding(binding, embedder.name, embedder.dimension, store.collection_name)
        self.store = store
        self.embedder = embedder
        self.binding = binding

    @classmethod
    def open(cls, settings: Settings, loader: EmbedderLoader = load_for_settings) -> SearchEngine:
        """Open the collection and load the model it was built with.

        With model 'auto' the recorded model is used; a named model must match it.
        """
        if not settings.chroma_host and not settings.store_dir.exists():
            GifStore.raise_missing(settings)
        store = GifStore.open(settings)
        binding = store.require_binding()
        if settings.model != "auto":
            asked = resolve_model_spec(settings.model)
            check_binding(binding, asked.name, binding.dimension, store.collection_name)
        return cls(store, loader(binding.model, settings), binding)

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        """Return up to k GIFs best matching query, best first."""
        text = clean_query(query)
        validate_k(k)
        return self.search_vector(self.embedder.embed_query(text), k)

    def search_vector(
        self, vector: np.ndarray, k: int, exclude_gif: str | None = None
    ) -> list[SearchHit]:
        """Return up to k GIFs nearest to a unit vector, grouped by GIF, best first."""
        self.store.refresh_if_changed()
        total = self.store.count()
        wanted = k + (1 if exclude_gif else 0)
        n_results = min(total, wanted * OVERFETCH)
        best: dict[str, StoredRow] = {}
        while n_results > 0:
            best = best_row_per_gif(self.store.query(vector, n_results), exclude_gif)
            if len(best) >= k or n_results >= total:
                break
            n_results = min(total, n_results * 2)
        top = sorted(best.values(), key=lambda row: row.distance or 0.0)[:k]
        return attach_descriptions(top, self.store.rows_for_gifs([r.gif_id for r in top]))

    def similar(self, gif_id: str, k: int = 10) -> list[SearchHit]:
        """Return up to k GIFs most like a stored GIF (mean of its vectors), excluding it."""
        validate_k(k)
        vectors = self.store.vectors_for_gif(gif_id)
        if vectors.size == 0:
            raise ConfigError(f"no GIF with id {gif_id!r} in this collection")
        centre = vectors.mean(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        return self.search_vector(centre, k, exclude_gif=gif_id)

    def stats(self) -> CollectionStats:
        """Return the collection's name, GIF and description counts, and model."""
        return CollectionStats(
            collection=self.store.collection_name,
            gifs=self.store.count_gifs(),
            descriptions=self.store.count(),
            model_name=self.binding.model_name,
        )


def clean_query(query: str) -> str:
    """Return the query with whitespace collapsed; raise EmptyQueryError when nothing is left."""
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


def attach_descriptions(top: list[StoredRow], all_rows: list[StoredRow]) -> list[SearchHit]:
    """Turn each GIF's best row into a hit carrying the GIF's other descriptions."""
    others: dict[str, list[str]] = {}
    for row in all_rows:
        others.setdefault(row.gif_id, []).append(row.description)
    hits = []
    for row in top:
        rest = sorted(d for d in others.get(row.gif_id, []) if d != row.description)
        hits.append(
            SearchHit(
                gif_id=row.gif_id,
                url=row.url,
                score=1.0 - float(row.distance or 0.0),
                description=row.description,
                other_descriptions=tuple(rest),
            )
        )
    return hits


def search(query: str, k: int = 10, settings: Settings | None = None) -> list[SearchHit]:
    """Search the collection the settings point at (opens it for this one call)."""
    return SearchEngine.open(settings or Settings()).search(query, k)
