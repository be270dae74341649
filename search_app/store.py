"""The store: the only module that imports chromadb. One collection of GIF descriptions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from search_app.errors import CollectionNotFoundError, ModelMismatchError, StoreUnavailableError
from search_app.records import GifRecord, StoredRow
from search_app.settings import Settings, chroma_headers, store_location

STORE_FILES = ("chroma.sqlite3", "chroma.sqlite3-wal")  # change when a writer commits
GET_PAGE_ROWS = 5_000  # ids per collection.get call; keeps SQLite variable lists small
# Cosine space; the index is built and persisted in big batches (measured: 20% less upsert
# time than the defaults of 100/1000 for 11k rows), search-time parameters unchanged.
HNSW_CONFIG = {"space": "cosine", "batch_size": 2_048, "sync_threshold": 20_000}


@dataclass(frozen=True)
class ModelBinding:
    """The model a collection's vectors came from, recorded in the collection's metadata."""

    model_name: str
    model: str
    dimension: int
    normalized: bool = True

    def to_metadata(self) -> dict[str, object]:
        """Return the binding as collection metadata."""
        return {
            "model_name": self.model_name,
            "model": self.model,
            "dimension": self.dimension,
            "normalized": self.normalized,
        }


def open_client(settings: Settings) -> object:
    """Open Chroma: an HttpClient when settings name a server, else the embedded store."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_host:
        try:
            return chromadb.HttpClient(
                host=settings.chroma_host,
                port=settings.chroma_port,
                ssl=settings.chroma_ssl,
                headers=chroma_headers(settings),
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises ValueError/ConnectError/... here
            raise StoreUnavailableError(
                f"can't reach the {store_location(settings)} ({first_line(exc)}); "
                "start it (chroma run --path DIR --port N) or check --chroma-host/--chroma-port"
            ) from None
    # chromadb caches one system per store path and process, with the vector index as it
    # was on disk when first opened: rows another process commits later are counted but
    # not found by queries, and an index that wasn't on disk yet is never picked up. So a
    # cached system older than the store's files is dropped and the store read afresh.
    if system_is_stale(settings):
        forget_cached_system(settings)
    client = chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma_settings)
    _OPENED_SIGNATURES[_store_key(settings)] = files_signature(settings)
    return client


# Files signature of each embedded store when this process last opened its system.
_OPENED_SIGNATURES: dict[str, tuple[tuple[int, int] | None, ...]] = {}


def _store_key(settings: Settings) -> str:
    return str(settings.store_dir.resolve())


def files_signature(settings: Settings) -> tuple[tuple[int, int] | None, ...]:
    """Return (mtime, size) of the store's SQLite files, which change when a writer commits."""
    signature = []
    for name in STORE_FILES:
        try:
            stat = (settings.store_dir / name).stat()
            signature.append((stat.st_mtime_ns, stat.st_size))
        except FileNotFoundError:
            signature.append(None)
    return tuple(signature)


def system_is_stale(settings: Settings) -> bool:
    """Return whether the store's files changed since this process opened its system."""
    opened = _OPENED_SIGNATURES.get(_store_key(settings))
    return opened is not None and opened != files_signature(settings)


def forget_cached_system(settings: Settings) -> None:
    """Drop chromadb's per-process cache of the embedded store at settings.store_dir.

    The next client opened on that path then reads the store from disk again.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    systems = getattr(SharedSystemClient, "_identifier_to_system", None)
    if isinstance(systems, dict):
        systems.pop(str(settings.store_dir), None)
        systems.pop(str(settings.store_dir.resolve()), None)
    else:  # chromadb changed its internals: clearing every cached store is still correct
        SharedSystemClient.clear_system_cache()


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message, or its type name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class GifStore:
    """A Chroma collection of descriptions (documents) with URL, GIF id and source metadata."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = open_client(settings)
        self.collection_name = settings.collection
        self.location = store_location(settings)
        self._collection: object | None = None

    @classmethod
    def open(cls, settings: Settings) -> GifStore:
        """Open the store the settings point at (nothing is created until ensure_collection)."""
        return cls(settings)

    def refresh_if_changed(self) -> bool:
        """Reopen an embedded store that another process wrote to; return whether it did.

        Readers such as the web app call this before each query; it costs two stat()
        calls when nothing changed (see open_client for why reopening is needed).
        """
        if self.settings.chroma_host or not system_is_stale(self.settings):
            return False
        self.client = open_client(self.settings)
        self._collection = None
        return True

    def _get_collection(self) -> object | None:
        if self._collection is None:
            from chromadb.errors import NotFoundError

            try:
                self._collection = self.client.get_collection(self.collection_name)  # type: ignore[attr-defined]
            except (NotFoundError, ValueError):
                return None
        return self._collection

    def binding(self) -> ModelBinding | None:
        """Return the collection's model binding, or None when the collection doesn't exist."""
        collection = self._get_collection()
        if collection is None:
            return None
        meta = collection.metadata or {}  # type: ignore[attr-defined]
        if "model_name" not in meta:
            return None
        return ModelBinding(
            model_name=str(meta["model_name"]),
            model=str(meta.get("model", meta["model_name"])),
            dimension=int(meta["dimension"]),
            normalized=bool(meta.get("normalized", True)),
        )

    def require_binding(self) -> ModelBinding:
        """Return the binding, or raise CollectionNotFoundError saying how to fill it."""
        binding = self.binding()
        if binding is None:
            self.raise_missing(self.settings)
        return binding

    @staticmethod
    def raise_missing(settings: Settings) -> NoReturn:
        """Raise CollectionNotFoundError for the settings' collection, saying how to fill it."""
        raise CollectionNotFoundError(
            f'no collection "{settings.collection}" in {store_location(settings)}; '
            'run "gifsearch ingest" first'
        )

    def ensure_collection(self, binding: ModelBinding) -> None:
        """Create the collection (cosine space) bound to a model, or check the existing binding."""
        existing = self.binding()
        if existing is not None:
            check_binding(existing, binding.model_name, binding.dimension, self.collection_name)
            return
        self._collection = self.client.get_or_create_collection(  # type: ignore[attr-defined]
            self.collection_name,
            configuration={"hnsw": HNSW_CONFIG},
            metadata=binding.to_metadata(),
            embedding_function=None,
        )

    def count(self) -> int:
        """Return the number of rows (descriptions) in the collection."""
        collection = self._get_collection()
        return 0 if collection is None else int(collection.count())  # type: ignore[attr-defined]

    def read_all(self) -> list[StoredRow]:
        """Return every row (without vectors), in pages; for checks and small collections."""
        collection = self._get_collection()
        rows: list[StoredRow] = []
        offset = 0
        while collection is not None:
            page = collection.get(  # type: ignore[attr-defined]
                include=["documents", "metadatas"], limit=GET_PAGE_ROWS, offset=offset
            )
            rows += [
                _stored_row(row_id, doc, meta, None)
                for row_id, doc, meta in zip(
                    page["ids"], page["documents"], page["metadatas"], strict=True
                )
            ]
            if len(page["ids"]) < GET_PAGE_ROWS:
                break
            offset += GET_PAGE_ROWS
        return rows

    def count_gifs(self) -> int:
        """Return the number of distinct GIFs (reads every row's metadata, in pages)."""
        return len({row.gif_id for row in self.read_all()})

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Return the subset of ids already in the collection."""
        collection = self._get_collection()
        found: set[str] = set()
        if collection is None:
            return found
        for start in range(0, len(ids), GET_PAGE_ROWS):
            page = collection.get(ids=list(ids[start : start + GET_PAGE_ROWS]), include=[])  # type: ignore[attr-defined]
            found.update(page["ids"])
        return found

    def ids_for_source(self, source: str) -> set[str]:
        """Return the ids of every row ingested from source."""
        collection = self._get_collection()
        found: set[str] = set()
        if collection is None:
            return found
        offset = 0
        while True:
            page = collection.get(  # type: ignore[attr-defined]
                where={"source": source}, include=[], limit=GET_PAGE_ROWS, offset=offset
            )
            found.update(page["ids"])
            if len(page["ids"]) < GET_PAGE_ROWS:
                return found
            offset += GET_PAGE_ROWS

    def max_batch_rows(self) -> int:
        """Return the largest batch the client accepts in one upsert."""
        return int(self.client.get_max_batch_size())  # type: ignore[attr-defined]

    def upsert_records(
        self,
        records: Sequence[GifRecord],
        vectors: np.ndarray,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Upsert records with their vectors in batches no larger than the client allows."""
        collection = self._get_collection()
        if collection is None:
            raise CollectionNotFoundError(f'collection "{self.collection_name}" was not created')
        step = self.max_batch_rows()
        for start in range(0, len(records), step):
            part = records[start : start + step]
            collection.upsert(  # type: ignore[attr-defined]
                ids=[r.row_id for r in part],
                embeddings=vectors[start : start + step],
                documents=[r.description for r in part],
                metadatas=[r.metadata() for r in part],
            )
            if on_progress:
                on_progress(len(part))
        return len(records)

    def delete_ids(self, ids: Iterable[str]) -> int:
        """Delete rows by id; return how many were asked for."""
        collection = self._get_collection()
        wanted = list(ids)
        if collection is None or not wanted:
            return 0
        step = self.max_batch_rows()
        for start in range(0, len(wanted), step):
            collection.delete(ids=wanted[start : start + step])  # type: ignore[attr-defined]
        return len(wanted)

    def query(self, vector: np.ndarray, n_results: int) -> list[StoredRow]:
        """Return the n_results rows nearest to vector, nearest first, with cosine distances."""
        collection = self._get_collection()
        if collection is None:
            return []
        result = collection.query(  # type: ignore[attr-defined]
            query_embeddings=[vector],
            n_results=n_results,
            include=["documents", "metadatas", "distances"],
        )
        return [
            _stored_row(row_id, doc, meta, dist)
            for row_id, doc, meta, dist in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def rows_for_gifs(self, gif_ids: Sequence[str]) -> list[StoredRow]:
        """Return every stored description of the given GIFs."""
        collection = self._get_collection()
        if collection is None or not gif_ids:
            return []
        page = collection.get(  # type: ignore[attr-defined]
            where={"gif_id": {"$in": list(gif_ids)}}, include=["documents", "metadatas"]
        )
        return [
            _stored_row(row_id, doc, meta, None)
            for row_id, doc, meta in zip(
                page["ids"], page["documents"], page["metadatas"], strict=True
            )
        ]

    def vectors_for_gif(self, gif_id: str) -> np.ndarray:
        """Return the stored vectors of a GIF's descriptions, one row each."""
        collection = self._get_collection()
        if collection is None:
            return np.zeros((0, 0), dtype=np.float32)
        page = collection.get(where={"gif_id": gif_id}, include=["embeddings"])  # type: ignore[attr-defined]
        return np.asarray(page["embeddings"], dtype=np.float32)


def check_binding(
    existing: ModelBinding, model_name: str, dimension: int, collection_name: str
) -> None:
    """Raise ModelMismatchError when a model other than the bound one is used."""
    if existing.model_name != model_name or existing.dimension != dimension:
        raise ModelMismatchError(
            f'collection "{collection_name}" was built with {existing.model_name} '
            f"({existing.dimension}-d), not {model_name} ({dimension}-d); "
            f"use --model {existing.model} or another --collection"
        )


def _stored_row(row_id: str, doc: str | None, meta: dict | None, dist: float | None) -> StoredRow:
    meta = meta or {}
    return StoredRow(
        row_id=row_id,
        gif_id=str(meta.get("gif_id", "")),
        url=str(meta.get("url", "")),
        description=doc or "",
        source=str(meta.get("source", "")),
        distance=None if dist is None else float(dist),
    )
