"""The catalog: which rows each GIF of a collection has (ids only), built in the background.

Chroma finds rows by id through an index, but evaluates a metadata filter such as
"gif_id in (...)" by reading every row's metadata (its SQLite segment aggregates the
condition over all rows), so reading the rows of a page of hits by their GIF ids costs
time in proportion to the collection: 27 ms at 125,000 rows. The catalog maps each GIF to
its row ids, so a search reads those rows by id instead, and counts the GIFs for the
status line. It holds ids only, in numpy arrays (about 70 bytes a row), and is built by a
background thread from one paged read of the rows' metadata: the store answers every
search meanwhile, so nothing in proportion to the collection is on the way to the first
page or the first search. When another process writes to the store the catalog is dropped
and built again, no more often than every RELOAD_INTERVAL_S (and REBUILD_PAUSE_FACTOR times
its build's length), the store answering in between.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from search_app.records import RowKind

RELOAD_INTERVAL_S = 10.0  # while an ingest writes, rebuild no more often than this
# ... nor sooner after a build than this many times its length, so that rebuilding a large
# catalog while another process writes keeps at most a sixth of a core busy.
REBUILD_PAUSE_FACTOR = 5.0
KINDS = (RowKind.DESCRIPTION, RowKind.FRAME)
# One page of a collection's rows: their kind, their ids and each one's GIF id.
RowPage = tuple[str, Sequence[str], Sequence[str]]


def _id_array(ids: Sequence[str]) -> np.ndarray:
    """Ids as a numpy array of UTF-8 bytes (32 bytes a hex id, not a Python object each)."""
    return np.array([row_id.encode() for row_id in ids], dtype=np.bytes_)


@dataclass(frozen=True)
class GifCatalog:
    """Each GIF's row ids by kind, from one read of a collection's rows.

    gif_ids is sorted; the rows of the GIF at position i are row_ids[starts[i]:starts[i + 1]]
    (kinds[...] says which collection each one is in)."""

    gif_ids: np.ndarray
    starts: np.ndarray
    row_ids: np.ndarray
    kinds: np.ndarray  # per row: its index in KINDS
    rows: int  # rows read: descriptions plus frames

    @classmethod
    def from_pages(cls, pages: Iterable[RowPage]) -> GifCatalog:
        """Build the catalog from pages of rows (kind, row ids, their GIF ids)."""
        row_parts, gif_parts, kind_parts = [], [], []
        for kind, row_ids, gif_ids in pages:
            row_parts.append(_id_array(row_ids))
            gif_parts.append(_id_array(gif_ids))
            kind_parts.append(np.full(len(row_ids), KINDS.index(RowKind(kind)), dtype=np.int8))
        if not row_parts:
            empty = np.array([], dtype=np.bytes_)
            return cls(empty, np.zeros(1, np.int64), empty, np.array([], np.int8), 0)
        gifs = np.concatenate(gif_parts)
        order = np.argsort(gifs, kind="stable")
        gifs = gifs[order]
        unique, starts = np.unique(gifs, return_index=True)
        return cls(
            gif_ids=unique,
            starts=np.append(starts, len(gifs)).astype(np.int64),
            row_ids=np.concatenate(row_parts)[order],
            kinds=np.concatenate(kind_parts)[order],
            rows=len(gifs),
        )

    @property
    def gif_count(self) -> int:
        """The number of distinct GIFs."""
        return len(self.gif_ids)

    def row_ids_of(self, gif_ids: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
        """Return the row ids of these GIFs by kind, and the GIF ids the catalog lacks."""
        found: dict[str, list[str]] = {kind: [] for kind in KINDS}
        missing = []
        for gif_id in gif_ids:
            key = gif_id.encode()
            at = int(np.searchsorted(self.gif_ids, key))
            if at == len(self.gif_ids) or self.gif_ids[at] != key:
                missing.append(gif_id)
                continue
            for i in range(self.starts[at], self.starts[at + 1]):
                found[KINDS[self.kinds[i]]].append(self.row_ids[i].decode())
        return found, missing


class CatalogKeeper:
    """Holds an engine's catalog: built by a background thread on demand, dropped when the
    store changes, rebuilt after a pause (see the module; thread-safe: web handlers share
    one engine). A failed build leaves no catalog (the store answers) and is tried again
    after the pause."""

    def __init__(self, read_pages: Callable[[], Iterable[RowPage]]) -> None:
        self._read_pages = read_pages
        self._catalog: GifCatalog | None = None
        self._next_build_at = float("-inf")  # time.monotonic() when a build may start
        self._generation = 0  # a drop() while a build runs makes its result stale
        self._building: threading.Event | None = None  # set when the running build ends
        self._built_at = float("-inf")  # time.monotonic() when the catalog held was read
        self._lock = threading.Lock()

    def drop_older_than(self, max_age_s: float) -> None:
        """Forget the catalog held if it was read more than max_age_s ago (a server's rows
        may have changed with nothing here to tell). None held, nothing is dropped: a
        build in flight is not made stale, so a busy server still gets its catalog."""
        with self._lock:
            if self._catalog is not None and time.monotonic() - self._built_at > max_age_s:
                self._catalog = None
                self._generation += 1

    def drop(self) -> None:
        """Forget the catalog (the store changed under it)."""
        with self._lock:
            self._catalog = None
            self._generation += 1

    def get(self, build: bool, wait_s: float = 0.0) -> GifCatalog | None:
        """Return the catalog, or None while there is none (use the store); with build,
        start building one in the background when none is built or being built and the
        pause after the last build is over. wait_s: how long to wait for a build this call
        starts (a small collection's is done within a fraction of a second); a build
        already running is not waited for, so callers during a long one answer at once."""
        with self._lock:
            catalog = self._catalog
            due = time.monotonic() >= self._next_build_at
            started = None
            if catalog is None and build and self._building is None and due:
                started = self._start()
        if started is not None and wait_s > 0:
            started.wait(wait_s)
            return self._catalog
        return catalog

    def wait(self, timeout_s: float | None = None) -> GifCatalog | None:
        """Return the catalog, building it first when there is none (None: the build
        failed, was dropped, or took longer than timeout_s)."""
        with self._lock:
            if self._catalog is not None:
                return self._catalog
            running = self._building or self._start()
        running.wait(timeout_s)
        return self._catalog

    def _start(self) -> threading.Event:
        """Start a build (the caller holds the lock); return the event its end sets."""
        done = self._building = threading.Event()
        self._next_build_at = time.monotonic() + RELOAD_INTERVAL_S
        generation = self._generation
        worker = threading.Thread(
            target=self._build, args=(generation, done), name="gifsearch-catalog", daemon=True
        )
        worker.start()
        return done

    def _build(self, generation: int, done: threading.Event) -> None:
        catalog = None
        started = time.monotonic()
        try:
            catalog = GifCatalog.from_pages(self._read_pages())
        except BaseException:  # any failure (a Rust panic in chromadb is a BaseException):
            catalog = None  # no catalog; the store answers, and a later call tries again
        finally:
            took = time.monotonic() - started
            with self._lock:
                if generation == self._generation:
                    self._catalog = catalog
                    self._built_at = started
                self._building = None
                pause = max(RELOAD_INTERVAL_S, REBUILD_PAUSE_FACTOR * took)
                self._next_build_at = max(self._next_build_at, started + pause)
            done.set()
