"""The store: the only module that imports chromadb. A collection of GIF descriptions,
and beside it (created on first use) a sibling collection of GIF frames.

The frames live apart, in "<collection>.frames", so that searching descriptions stays an
unfiltered query (a metadata filter on kind made queries many times slower; figures in
docs/results.md, "Design measurements"). Both collections record the same model binding.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Concatenate, NoReturn, ParamSpec, TypeVar

import numpy as np

from search_app.errors import (
    CollectionNotFoundError,
    ConfigError,
    GifSearchError,
    StoreDamagedError,
    StoreFullError,
    StoreUnavailableError,
    first_line,
)
from search_app.records import (
    HEIGHT_KEY,
    LINK_CHECKED_KEY,
    LINK_KEY,
    LINK_REASON_KEY,
    WIDTH_KEY,
    FrameRecord,
    GifLinks,
    GifRecord,
    LinkState,
    RowKind,
    StoredRow,
)
from search_app.settings import Settings, chroma_headers, store_location
from search_app.store import health as store_health
from search_app.store.binding import ModelBinding, check_binding
from search_app.store.index_files import index_problem

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.collection_configuration import CreateHNSWConfiguration
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Include, Metadata, Where
    from chromadb.base_types import (
        InclusionExclusionOperator,
        LiteralValue,
        LogicalOperator,
        WhereOperator,
    )

STORE_FILES = ("chroma.sqlite3", "chroma.sqlite3-wal")  # change when a writer commits
GET_PAGE_ROWS = 5_000  # ids per collection.get call; keeps SQLite variable lists small
# Rows whose metadata is read by id per call when a whole collection is read: 125,000
# rows took 7.7 s in pages of 1,000 and 13.5 s in pages of 5,000 (a busy machine).
SCAN_PAGE_ROWS = 1_000
# Cosine space; the index is built in big batches (less upsert time than the default 100)
# and saved every 2,048 additions: Chroma rebuilds any unsaved part from its log in every
# process that opens the store, so a larger threshold made each reader of a small store
# rebuild it (docs/results.md, "Design measurements"). Search-time parameters unchanged.
HNSW_CONFIG: CreateHNSWConfiguration = {
    "space": "cosine",
    "batch_size": 2_048,
    "sync_threshold": 2_048,
}
FRAMES_SUFFIX = ".frames"  # the frames of collection "gifs" live in "gifs.frames"
FRAMES_OF_KEY = "frames_of"  # metadata key marking a frames collection, naming its parent
# A row's metadata as read back: the scalars this module wrote (Chroma types the values as
# any of its metadata kinds, so they are read as Any and converted field by field).
StoredMetadata = Mapping[str, Any]
MAX_STORED_INT = 2**63 - 1  # Chroma's integers are 64-bit; anything past is damage


def open_client(settings: Settings) -> ClientAPI:
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
    signature: list[tuple[int, int] | None] = []
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

    The next client opened on that path then reads the store from disk again, and this
    process no longer counts as having it open (a store set aside and made anew is new).
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    _OPENED_SIGNATURES.pop(_store_key(settings), None)

    systems = getattr(SharedSystemClient, "_identifier_to_system", None)
    if isinstance(systems, dict):
        systems.pop(str(settings.store_dir), None)
        systems.pop(str(settings.store_dir.resolve()), None)
    else:  # chromadb changed its internals: clearing every cached store is still correct
        SharedSystemClient.clear_system_cache()


def store_failure(settings: Settings, exc: BaseException) -> GifSearchError | None:
    """The one-line error for a Chroma failure caused by a full disk or a damaged store
    file (search_app.store.health names which), or None when it is neither."""
    if store_health.is_disk_full(exc):
        if settings.chroma_host:
            return StoreFullError(
                f"the {store_location(settings)} has no space left on its disk "
                f"({first_line(exc)[:120]}); free some space on that server"
            )
        return StoreFullError(store_health.disk_full_message(settings.store_dir))
    if settings.chroma_host:
        return None
    if "readonly database" in str(exc).lower():  # a file made read-only under Chroma
        read_only = store_health.read_only_problem(settings.store_dir)
        return StoreUnavailableError(
            read_only or f"the store in {settings.store_dir} can't be written ({first_line(exc)})"
        )
    problem = store_health.damaged_file(settings.store_dir, str(exc))
    return None if problem is None else damaged_store(settings, problem)


def damaged_store(settings: Settings, problem: str) -> StoreDamagedError:
    """The error for an embedded store with a damaged file (problem names it)."""
    return StoreDamagedError(store_health.damaged_message(settings.store_dir, problem), problem)


P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C")
PASSED_ON = (GifSearchError, KeyboardInterrupt, SystemExit, GeneratorExit)
CHECKED_MARK = "_gifsearch_store_checked"  # set on a failure already found not the store's


def _translating(
    method: Callable[Concatenate[GifStore, P], R],
) -> Callable[Concatenate[GifStore, P], R]:
    @functools.wraps(method)
    def call(self: GifStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except PASSED_ON:
            raise
        except BaseException as exc:  # a Rust panic in chromadb is a BaseException
            if getattr(exc, CHECKED_MARK, False):  # a public method calling another
                raise
            failure = store_failure(self.settings, exc)
            if failure is None:
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(exc, CHECKED_MARK, True)  # the store's files are read once
                raise
            raise failure from None

    return call


def translates_store_failures(cls: type) -> type:
    """Make every public method (and __init__) of cls raise StoreFullError or
    StoreDamagedError, one line each, where Chroma fails for a full disk or a damaged file."""
    for name, member in list(vars(cls).items()):
        if inspect.isfunction(member) and (name == "__init__" or not name.startswith("_")):
            setattr(cls, name, _translating(member))
    return cls


@translates_store_failures
class GifStore:
    """A Chroma collection of descriptions (documents) with URL, GIF id and source metadata,
    and its sibling collection of frames (label documents, frame index metadata).

    An embedded store is opened only where its database is: a reader (create False) never
    makes one, and a store whose database went missing is refused as damaged instead of
    being made anew empty. Failures for a full disk or a damaged file are one line.
    """

    def __init__(self, settings: Settings, create: bool = False) -> None:
        self.settings = settings
        self.create = create
        self._check_files()
        self.client = open_client(settings)
        self.collection_name = settings.collection
        self.frames_name = settings.collection + FRAMES_SUFFIX
        self._collection: Collection | None = None
        self._frames: Collection | None = None
        # An embedded store with no frames collection is not asked again on every query;
        # refresh_if_changed clears this when another process writes. A server is asked.
        self._no_frames = False
        self._max_batch_rows: int | None = None

    def refresh_if_changed(self) -> bool:
        """Reopen an embedded store that another process wrote to; return whether it did.

        Readers such as the web app call this before each query; it costs two stat()
        calls when nothing changed (see open_client for why reopening is needed).
        """
        if self.settings.chroma_host or not system_is_stale(self.settings):
            return False
        self._check_files()
        self.client = open_client(self.settings)
        self._collection = self._frames = None
        self._no_frames = False
        return True

    def _check_files(self) -> None:
        """Refuse an embedded store whose saved vector index is damaged (before Chroma
        loads it), or whose database is missing but whose other files (or an earlier
        opening in this process) show it existed; and, unless create, one never made."""
        settings = self.settings
        if settings.chroma_host:
            return
        database = settings.store_dir / store_health.SQLITE_FILE
        if database.exists():
            read_only = store_health.read_only_problem(settings.store_dir)
            if read_only:
                raise StoreUnavailableError(read_only)
            problem = index_problem(settings.store_dir)
            if problem:
                raise damaged_store(settings, problem)
            return
        was_open = (_OPENED_SIGNATURES.get(_store_key(settings)) or (None,))[0] is not None
        if was_open or store_health.has_store_files(settings.store_dir):
            raise damaged_store(settings, f"its {store_health.SQLITE_FILE} is missing")
        if not self.create:
            self.raise_missing(settings)

    def _get_collection(self) -> Collection | None:
        if self._collection is None:
            self._collection = self._lookup(self.collection_name)
        return self._collection

    def _get_frames(self) -> Collection | None:
        if self._frames is None and not self._no_frames:
            self._frames = self._lookup(self.frames_name)
            self._no_frames = self._frames is None and not self.settings.chroma_host
        return self._frames

    def _of_kind(self, kind: str) -> Collection | None:
        if kind == RowKind.FRAME:
            return self._get_frames()
        if kind == RowKind.DESCRIPTION:
            return self._get_collection()
        raise ConfigError(f"row kind {kind!r} is not one of {RowKind.DESCRIPTION}, {RowKind.FRAME}")

    def _lookup(self, name: str) -> Collection | None:
        from chromadb.errors import NotFoundError

        try:
            return self.client.get_collection(name)
        except (NotFoundError, ValueError):
            return None

    def binding(self) -> ModelBinding | None:
        """Return the collection's model binding, or None when the collection doesn't exist."""
        collection = self._get_collection()
        if collection is None:
            return None
        return ModelBinding.from_metadata(collection.metadata or {})

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
        """Create the collection (cosine space) bound to a model, or check the existing binding.

        A binding recorded before image support was tracked gains the images flag.
        """
        existing = self.binding()
        if existing is not None:
            check_binding(existing, binding.model_name, binding.dimension, self.collection_name)
            collection = self._get_collection()  # found by binding(), so not None
            if existing.images is None and binding.images is not None and collection is not None:
                upgraded = replace(existing, images=binding.images)
                collection.modify(metadata=upgraded.to_metadata())
            return
        self._collection = self._create(self.collection_name, binding.to_metadata())

    def ensure_frames_collection(self, binding: ModelBinding) -> None:
        """Create the frames collection beside the collection, under the same binding."""
        frames = self._get_frames()
        if frames is None:
            meta = {**binding.to_metadata(), FRAMES_OF_KEY: self.collection_name}
            self._frames = self._create(self.frames_name, meta)
            return
        meta = frames.metadata or {}
        recorded = ModelBinding.from_metadata(meta)
        if meta.get(FRAMES_OF_KEY) != self.collection_name or recorded is None:
            raise ConfigError(
                f'collection "{self.frames_name}" exists but does not hold the frames of '
                f'"{self.collection_name}"; use another --collection'
            )
        check_binding(recorded, binding.model_name, binding.dimension, self.frames_name)

    def drop_collections(self) -> list[str]:
        """Delete the collection and its frames collection, without reading their rows;
        return the names of those that existed (for --rebuild)."""
        from chromadb.errors import NotFoundError

        dropped = []
        for name in (self.collection_name, self.frames_name):
            try:
                self.client.delete_collection(name)
            except (NotFoundError, ValueError):
                continue
            dropped.append(name)
        self._collection = self._frames = None
        self._no_frames = False
        return dropped

    def _create(self, name: str, metadata: dict[str, object]) -> Collection:
        return self.client.get_or_create_collection(
            name, configuration={"hnsw": HNSW_CONFIG}, metadata=metadata, embedding_function=None
        )

    def count(self) -> int:
        """Return the number of rows: descriptions plus frames."""
        return self.count_kind(RowKind.DESCRIPTION) + self.count_kind(RowKind.FRAME)

    def has_kind(self, kind: str) -> bool:
        """Return whether the collection for that kind of row exists (it may be empty)."""
        return self._of_kind(kind) is not None

    def count_kind(self, kind: str) -> int:
        """Return the number of rows of one kind ('description' or 'frame')."""
        collection = self._of_kind(kind)
        return 0 if collection is None else int(collection.count())

    def read_all(
        self, kinds: Sequence[str] = (RowKind.DESCRIPTION, RowKind.FRAME), documents: bool = True
    ) -> list[StoredRow]:
        """Return every row of the given kinds (without vectors; without their documents
        unless documents), in pages."""
        rows: list[StoredRow] = []
        for kind in kinds:
            rows += self._read(self._of_kind(kind), {}, documents)
        return rows

    def iter_gif_ids(
        self, kinds: Sequence[str] = (RowKind.DESCRIPTION, RowKind.FRAME)
    ) -> Iterator[tuple[str, list[str], list[str]]]:
        """Yield every row of the given kinds as pages of (kind, row ids, their GIF ids):
        every id in one call, then their metadata by id, a page at a time (what the
        catalog is built from). Not by offset: Chroma passes again over the rows before
        each page, so a read by offset costs more than its rows' share."""
        for kind in kinds:
            collection = self._of_kind(kind)
            if collection is None:
                continue
            ids = collection.get(include=[])["ids"]
            for start in range(0, len(ids), SCAN_PAGE_ROWS):
                wanted = ids[start : start + SCAN_PAGE_ROWS]
                page = collection.get(ids=wanted, include=["metadatas"])
                metas = _included(page["metadatas"], "metadatas")
                yield kind, page["ids"], [str((meta or {}).get("gif_id", "")) for meta in metas]

    def rows_by_id(self, ids: Sequence[str], kind: str = RowKind.DESCRIPTION) -> list[StoredRow]:
        """Return the stored rows of one kind with these ids, in the order asked (an id not
        stored is left out). Chroma finds ids through an index: the cost follows the rows
        asked for, where a metadata filter's follows the collection's size."""
        collection = self._of_kind(kind)
        if collection is None or not ids:
            return []
        found: dict[str, StoredRow] = {}
        for start in range(0, len(ids), GET_PAGE_ROWS):
            page = collection.get(
                ids=list(ids[start : start + GET_PAGE_ROWS]), include=["documents", "metadatas"]
            )
            for row_id, doc, meta in zip(
                page["ids"],
                _included(page["documents"], "documents"),
                _included(page["metadatas"], "metadatas"),
                strict=True,
            ):
                found[row_id] = _stored_row(row_id, doc, meta, None)
        return [found[row_id] for row_id in ids if row_id in found]

    def spread_rows(
        self, kind: str, pages: int, page_rows: int
    ) -> tuple[list[StoredRow], np.ndarray]:
        """Return up to pages x page_rows rows of one kind with their vectors, read in pages
        at evenly spaced positions of the collection (a sample of it that is the same for
        the same rows). The positions come from one read of every id, the pages are read
        by id: pages read by offset passed again over the rows before each (8 pages of
        125,000 rows: 7.0 s on a busy machine)."""
        collection = self._of_kind(kind)
        ids = [] if collection is None else collection.get(include=[])["ids"]
        if collection is None or not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        stride = max(len(ids) // pages, page_rows)
        rows: list[StoredRow] = []
        vectors: list[np.ndarray] = []
        for offset in range(0, len(ids), stride):
            wanted = ids[offset : offset + page_rows]
            page = collection.get(ids=wanted, include=["documents", "metadatas", "embeddings"])
            at = {row_id: i for i, row_id in enumerate(page["ids"])}
            order = [at[row_id] for row_id in wanted if row_id in at]  # the ids' order
            docs = _included(page["documents"], "documents")
            metas = _included(page["metadatas"], "metadatas")
            rows += [_stored_row(page["ids"][i], docs[i], metas[i], None) for i in order]
            page_vectors = np.asarray(_included(page["embeddings"], "embeddings"), np.float32)
            vectors.append(page_vectors[order])
        return rows, np.concatenate(vectors)

    def count_gifs(self) -> int:
        """Return the number of distinct GIFs (reads every row's metadata, in pages)."""
        return len({row.gif_id for row in self.read_all(documents=False)})

    def ids_page(self, kind: str, offset: int, limit: int = GET_PAGE_ROWS) -> list[str]:
        """Return the ids of up to limit rows of one kind from offset on, in the order the
        rows were added (ids only: the cheapest way to walk a whole collection)."""
        collection = self._of_kind(kind)
        if collection is None:
            return []
        return list(collection.get(include=[], limit=limit, offset=offset)["ids"])

    def rows_by_ids(
        self, ids: Sequence[str], kind: str = RowKind.DESCRIPTION
    ) -> tuple[list[StoredRow], np.ndarray]:
        """Return the stored rows of one kind with these ids (an id not stored is left out)
        and their vectors, one per row in the same order, read GET_PAGE_ROWS at a time."""
        collection = self._of_kind(kind)
        rows: list[StoredRow] = []
        vectors: list[np.ndarray] = []
        for start in range(0, len(ids), GET_PAGE_ROWS):
            if collection is None:
                break
            page = collection.get(
                ids=list(ids[start : start + GET_PAGE_ROWS]),
                include=["documents", "metadatas", "embeddings"],
            )
            docs = _included(page["documents"], "documents")
            metas = _included(page["metadatas"], "metadatas")
            rows += [
                _stored_row(row_id, doc, meta, None)
                for row_id, doc, meta in zip(page["ids"], docs, metas, strict=True)
            ]
            if page["ids"]:
                vectors.append(np.asarray(_included(page["embeddings"], "embeddings"), np.float32))
        if not vectors:
            return rows, np.zeros((0, 0), dtype=np.float32)
        return rows, np.concatenate(vectors)

    def content_mark(self, kind: str) -> str:
        """Return what changes when rows of one kind are added, deleted or the collection
        is made anew: its id, row count and last-added row id ("" when there is none).
        Updates of stored rows (a link check's marks) leave it as it is."""
        collection = self._of_kind(kind)
        if collection is None:
            return ""
        count = int(collection.count())
        last = self.ids_page(kind, count - 1, 1) if count else []
        return f"{collection.id}:{count}:{last[0] if last else ''}"

    def existing_ids(self, ids: Sequence[str], kind: str = RowKind.DESCRIPTION) -> set[str]:
        """Return the subset of ids already in the collection of that kind of row."""
        collection = self._of_kind(kind)
        found: set[str] = set()
        if collection is None:
            return found
        for start in range(0, len(ids), GET_PAGE_ROWS):
            page = collection.get(ids=list(ids[start : start + GET_PAGE_ROWS]), include=[])
            found.update(page["ids"])
        return found

    def ids_for_source(self, source: str) -> set[str]:
        """Return the ids of every description ingested from source."""
        return {row.row_id for row in self.rows_for_source(source, RowKind.DESCRIPTION)}

    def rows_for_source(self, source: str, kind: str) -> list[StoredRow]:
        """Return the rows of one kind ingested from source (metadata only)."""
        return self._read(self._of_kind(kind), {"source": source}, documents=False)

    def _read(
        self, collection: Collection | None, where: Where, documents: bool = True
    ) -> list[StoredRow]:
        """Every row of collection that where matches: their ids in one call, then the
        rows by id, a page at a time. Chroma evaluates a filter over every row and pages by
        offset passing again over the rows before each page, so a read by pages of the
        filter paid both once a page."""
        if collection is None:
            return []
        ids = collection.get(where=where or None, include=[])["ids"]
        include: Include = ["documents", "metadatas"] if documents else ["metadatas"]
        rows: list[StoredRow] = []
        for start in range(0, len(ids), SCAN_PAGE_ROWS):
            page = collection.get(ids=ids[start : start + SCAN_PAGE_ROWS], include=include)
            docs: Sequence[str | None] = (
                _included(page["documents"], "documents")
                if documents
                else [None] * len(page["ids"])
            )
            metas = _included(page["metadatas"], "metadatas")
            rows += [
                _stored_row(row_id, doc, meta, None)
                for row_id, doc, meta in zip(page["ids"], docs, metas, strict=True)
            ]
        return rows

    def max_batch_rows(self) -> int:
        """Return the largest batch the client accepts in one write (asked once per store)."""
        if self._max_batch_rows is None:
            self._max_batch_rows = int(self.client.get_max_batch_size())
        return self._max_batch_rows

    def add_records(
        self,
        records: Sequence[GifRecord],
        vectors: np.ndarray,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Add records that are not in the collection yet, with their vectors.

        Cheaper than upsert_records: Chroma skips its look-up and delete of an existing
        row. A row whose id is already stored is left as it is (ids are hashes of URL and
        description, so it holds the same description).
        """
        return self.write_rows(
            [r.row_id for r in records],
            vectors,
            [r.description for r in records],
            [r.metadata() for r in records],
            on_progress=on_progress,
        )

    def upsert_records(
        self,
        records: Sequence[GifRecord],
        vectors: np.ndarray,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Upsert records with their vectors in batches no larger than the client allows."""
        return self.write_rows(
            [r.row_id for r in records],
            vectors,
            [r.description for r in records],
            [r.metadata() for r in records],
            on_progress=on_progress,
            new=False,
        )

    def upsert_frames(self, frames: Sequence[FrameRecord], vectors: np.ndarray) -> int:
        """Upsert frame rows with their image vectors into the frames collection."""
        return self.write_rows(
            [f.row_id for f in frames],
            vectors,
            [f.label() for f in frames],
            [f.metadata() for f in frames],
            kind=RowKind.FRAME,
            new=False,
        )

    def write_rows(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        documents: Sequence[str] | None = None,
        metadatas: Sequence[Metadata] | None = None,
        kind: str = RowKind.DESCRIPTION,
        new: bool = True,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Write rows of one kind in batches no larger than the client allows: added when
        new (ids not stored yet), else upserted. Documents or metadata left out (None) are
        not stored; the benchmark's write profile times the parts that way."""
        collection = self._of_kind(kind)
        if collection is None:
            name = self.frames_name if kind == RowKind.FRAME else self.collection_name
            raise CollectionNotFoundError(f'collection "{name}" was not created')
        write = collection.add if new else collection.upsert
        step = self.max_batch_rows()
        for start in range(0, len(ids), step):
            stop = start + step
            self.check_space(len(ids[start:stop]), vectors.shape[1])
            write(
                ids=list(ids[start:stop]),
                embeddings=vectors[start:stop],
                documents=None if documents is None else list(documents[start:stop]),
                metadatas=None if metadatas is None else list(metadatas[start:stop]),
            )
            if on_progress:
                on_progress(len(ids[start:stop]))
        return len(ids)

    def check_space(self, rows: int, dimension: int) -> None:
        """Refuse a write of rows that would leave an embedded store's disk too full for
        Chroma to apply it (a full disk mid-write left a store unsearchable)."""
        if self.settings.chroma_host:
            return
        problem = store_health.space_problem(self.settings.store_dir, rows, dimension)
        if problem:
            raise StoreFullError(problem)

    def delete_ids(self, ids: Iterable[str], kind: str = RowKind.DESCRIPTION) -> int:
        """Delete rows of one kind by id; return how many were asked for."""
        collection = self._of_kind(kind)
        wanted = list(ids)
        if collection is None or not wanted:
            return 0
        step = self.max_batch_rows()
        for start in range(0, len(wanted), step):
            collection.delete(ids=wanted[start : start + step])
        return len(wanted)

    def delete_other_frame_sets(self, gif_ids: Sequence[str], frame_set: str) -> None:
        """Delete the frames of these GIFs picked under any frame set but frame_set."""
        frames = self._get_frames()
        if frames is None or not gif_ids:
            return
        other_set: dict[WhereOperator | LogicalOperator, LiteralValue] = {"$ne": frame_set}
        frames.delete(where={"$and": [_of_gifs(gif_ids), {"frame_set": other_set}]})

    def query(
        self, vector: np.ndarray, n_results: int, kind: str = RowKind.DESCRIPTION
    ) -> list[StoredRow]:
        """Return the n_results rows of one kind nearest to vector, nearest first: their
        ids and distances from the vector index, then their documents and metadata by id
        (66 rows of 125,000: 8.6 ms, where one query including them took 12.0 ms)."""
        found = self.query_distances(vector, n_results, kind)
        rows = {row.row_id: row for row in self.rows_by_id([row_id for row_id, _ in found], kind)}
        return [replace(rows[row_id], distance=dist) for row_id, dist in found if row_id in rows]

    def query_distances(
        self, vector: np.ndarray, n_results: int, kind: str = RowKind.DESCRIPTION
    ) -> list[tuple[str, float]]:
        """Return the (row id, cosine distance) of the n_results nearest rows, nearest first
        (no documents or metadata: much cheaper, for a caller that holds them already)."""
        collection = self._of_kind(kind)
        if collection is None or n_results < 1:
            return []
        result = collection.query(
            query_embeddings=[vector], n_results=n_results, include=["distances"]
        )
        distances = _included(result["distances"], "distances")[0]
        return list(zip(result["ids"][0], map(float, distances), strict=True))

    def rows_for_gifs(
        self, gif_ids: Sequence[str], kind: str = RowKind.DESCRIPTION
    ) -> list[StoredRow]:
        """Return every stored row of one kind (descriptions by default) of the given GIFs."""
        return self.rows_and_vectors_for_gifs(gif_ids, kind, with_vectors=False)[0]

    def rows_and_vectors_for_gifs(
        self, gif_ids: Sequence[str], kind: str = RowKind.DESCRIPTION, with_vectors: bool = True
    ) -> tuple[list[StoredRow], np.ndarray]:
        """Return every stored row of one kind of the given GIFs and, with_vectors, their
        vectors (one per row, in the same order; else an empty array). One Chroma call."""
        collection = self._of_kind(kind)
        if collection is None or not gif_ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        include: Include = ["documents", "metadatas"]
        if with_vectors:
            include.append("embeddings")
        page = collection.get(where=_of_gifs(gif_ids), include=include)
        rows = [
            _stored_row(row_id, doc, meta, None)
            for row_id, doc, meta in zip(
                page["ids"],
                _included(page["documents"], "documents"),
                _included(page["metadatas"], "metadatas"),
                strict=True,
            )
        ]
        if not with_vectors or not rows:
            return rows, np.zeros((0, 0), dtype=np.float32)
        return rows, np.asarray(_included(page["embeddings"], "embeddings"), dtype=np.float32)

    def vectors_for_gif(self, gif_id: str, kind: str = RowKind.DESCRIPTION) -> np.ndarray:
        """Return the stored vectors of a GIF's rows of one kind, one row each."""
        collection = self._of_kind(kind)
        if collection is None:
            return np.zeros((0, 0), dtype=np.float32)
        page = collection.get(where={"gif_id": gif_id}, include=["embeddings"])
        return np.asarray(_included(page["embeddings"], "embeddings"), dtype=np.float32)

    def read_gif_links(self) -> list[GifLinks]:
        """Return every GIF of the collection and its frames with its URL, row ids and
        recorded link status (metadata only, read in pages), in the order first seen."""
        by_gif: dict[str, list[StoredRow]] = {}
        for row in self.read_all(documents=False):
            by_gif.setdefault(row.gif_id, []).append(row)
        return [GifLinks.from_rows(rows) for rows in by_gif.values()]

    def write_link_states(
        self, states: Sequence[tuple[str, LinkState]], kind: str = RowKind.DESCRIPTION
    ) -> int:
        """Record (row id, link state) pairs on rows of one kind, in batches no larger than
        max_batch_rows(); the rows' other metadata is kept. Return how many were written."""
        collection = self._of_kind(kind)
        if collection is None or not states:
            return 0
        step = self.max_batch_rows()
        for start in range(0, len(states), step):
            batch = states[start : start + step]
            collection.update(
                ids=[row_id for row_id, _ in batch], metadatas=[s.metadata() for _, s in batch]
            )
        return len(states)


def _of_gifs(gif_ids: Sequence[str]) -> Where:
    """The filter for rows of any of these GIFs (its parts typed out: mypy can't infer
    which member of Chroma's Where union a nested literal is)."""
    one_of: dict[InclusionExclusionOperator, list[LiteralValue]] = {"$in": list(gif_ids)}
    return {"gif_id": one_of}


def _included(column: C | None, name: str) -> C:
    """Return a column that a get or query call asked for in include: Chroma types every
    column as optional, and returns None only for columns left out."""
    if column is None:
        raise TypeError(f"Chroma returned no {name}, though they were asked for")
    return column


def whole_number(value: object, default: int = 0, low: int = 0, high: int = MAX_STORED_INT) -> int:
    """Return a stored metadata value as a whole number from low to high, or default when it
    is none (damaged rows, or written by another tool: 'abc', 1.5, 1e300, True)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    if isinstance(value, float) and not value.is_integer():
        return default  # also nan and inf
    number = int(value)
    return number if low <= number <= high else default


def _stored_row(
    row_id: str, doc: str | None, meta: StoredMetadata | None, dist: float | None
) -> StoredRow:
    meta = meta or {}
    frame_index = whole_number(meta.get("frame_index"), default=-1)
    return StoredRow(
        row_id=row_id,
        gif_id=str(meta.get("gif_id", "")),
        url=str(meta.get("url", "")),
        description=doc or "",
        source=str(meta.get("source", "")),
        distance=None if dist is None else float(dist),
        kind=str(meta.get("kind", RowKind.DESCRIPTION)),  # rows from before frames have none
        frame_index=None if frame_index < 0 else frame_index,
        frame_set=str(meta.get("frame_set", "")),
        link=str(meta.get(LINK_KEY, "")),
        link_checked_at=whole_number(meta.get(LINK_CHECKED_KEY)),  # damaged: never checked
        link_reason=str(meta.get(LINK_REASON_KEY, "") or ""),
        width=whole_number(meta.get(WIDTH_KEY)),
        height=whole_number(meta.get(HEIGHT_KEY)),
        path=str(meta.get("path", "") or ""),
    )
