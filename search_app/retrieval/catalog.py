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
from collections.abc import Callable, Sequence
from dataclasses import replace

from search_app.records import RowKind, StoredGif, StoredRow, gifs_of_rows

RELOAD_INTERVAL_S = 10.0  # while an ingest writes, rebuild no more often than this


class GifCatalog:
    """Each GIF as the store knows it (StoredGif: descriptions, size, link state), and the
    description rows by id, from a read of a collection's rows.

    rows are description rows (with their documents) and frame rows (without: a GIF of a
    folder source has frames and no descriptions; its size and file are on its frames).
    """

    def __init__(self, rows: Sequence[StoredRow]) -> None:
        self._rows: dict[str, StoredRow] = {
            row.row_id: row for row in rows if row.kind != RowKind.FRAME
        }
        self._gifs = gifs_of_rows(rows)
        self.dead: set[str] = {gif_id for gif_id, gif in self._gifs.items() if gif.dead}
        self.rows = len(rows)
        self.gif_count = len(self._gifs)

    def gif(self, gif_id: str) -> StoredGif | None:
        """The GIF with this id, as the catalog's read saw it (None: not in it)."""
        return self._gifs.get(gif_id)

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
        gif = self._gifs.get(gif_id)
        return gif.descriptions if gif else ()


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
