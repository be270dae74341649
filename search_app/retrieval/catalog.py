"""The catalog: every description row of a collection held in memory, by row and by GIF.

A long-lived engine (the web app; any engine past its first query) keeps one, so a
search asks Chroma only for the ids and distances of the nearest rows (much less than
their documents and metadata), its hits get their descriptions without a second call,
and the status line counts GIFs without reading the store again. One paged read of the
rows builds it; when another process writes to the store the catalog is dropped and
rebuilt at most every RELOAD_INTERVAL_S, the store answering in between.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from search_app.records import RowKind, StoredRow

RELOAD_INTERVAL_S = 10.0  # while an ingest writes, rebuild no more often than this


class GifCatalog:
    """Each GIF's descriptions (sorted), from a read of a collection's rows.

    rows are description rows (with their documents) and frame rows (only their GIF
    counts: a GIF of a folder source has frames and no descriptions).
    """

    def __init__(self, rows: Iterable[StoredRow]) -> None:
        texts: dict[str, list[str]] = {}
        framed: set[str] = set()
        self._rows: dict[str, StoredRow] = {}
        self.dead: set[str] = set()  # GIFs with a row the link checker found dead
        self.rows = 0
        for row in rows:
            self.rows += 1
            if row.is_dead:
                self.dead.add(row.gif_id)
            if row.kind == RowKind.FRAME:
                framed.add(row.gif_id)
            else:
                self._rows[row.row_id] = row
                texts.setdefault(row.gif_id, []).append(row.description)
        self._texts = {gif: tuple(sorted(found)) for gif, found in texts.items()}
        self.gif_count = len(framed | set(self._texts))

    def rows_at(self, found: Sequence[tuple[str, float]]) -> list[StoredRow] | None:
        """Return the description rows of (row id, distance) pairs a query found, with
        their distances; None when one is missing (the catalog is older than the store)."""
        rows = []
        for row_id, distance in found:
            row = self._rows.get(row_id)
            if row is None:
                return None
            rows.append(replace(row, distance=distance))
        return rows

    def descriptions(self, gif_id: str) -> tuple[str, ...]:
        """A GIF's descriptions ((): none, e.g. a GIF known by its frames only)."""
        return self._texts.get(gif_id, ())


class CatalogKeeper:
    """Holds an engine's catalog: built on demand, dropped when the store changes, rebuilt
    no more often than RELOAD_INTERVAL_S (thread-safe: web handlers share one engine)."""

    def __init__(self, read_rows: Callable[[], Sequence[StoredRow]], enabled: bool = True) -> None:
        self._read_rows = read_rows
        self._enabled = enabled  # off: get() is always None, every query asks the store
        self._catalog: GifCatalog | None = None
        self._built_at = float("-inf")
        self._lock = threading.Lock()

    def drop(self) -> None:
        """Forget the catalog (the store changed under it)."""
        with self._lock:
            self._catalog = None

    def get(self, build: bool) -> GifCatalog | None:
        """Return the catalog; with build, build it first when there is none and the last
        build is RELOAD_INTERVAL_S old. None: use the store."""
        if not self._enabled:
            return None
        with self._lock:
            due = time.monotonic() - self._built_at >= RELOAD_INTERVAL_S
            if self._catalog is None and build and due:
                self._built_at = time.monotonic()
                self._catalog = GifCatalog(self._read_rows())
            return self._catalog
