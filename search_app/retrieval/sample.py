"""A collection's sample: the rows whose ids are the smallest, with their vectors.

Row ids are hashes (of URL and description, records.make_row_id), so the SAMPLE_ROWS
smallest ids are a uniform random sample that is the same for the same rows, whatever
order they were added in, and that changes little when a collection grows. Choosing them
reads every id (ids only, in pages, keeping the smallest in a bounded heap); then only
the chosen rows are read with their documents and vectors. Memory and time past the id
walk are the same at any size. Categories and completions are built from the sample.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from search_app.records import RowKind, StoredRow
from search_app.store.client import GET_PAGE_ROWS, GifStore

SAMPLE_ROWS = 50_000  # ~75 MB of 384-d vectors; 10 s to read here (docs/results.md)
# Ids per read of the walk. Chroma skips to an offset by counting rows (6 us a row at 1M
# rows), so pages of 5,000 ids made the walk grow with the square of the collection;
# 100,000-id pages hold ~90 MB in flight (docs/results.md).
ID_PAGE_ROWS = 100_000
# A progress bar's factory: (total, label) -> the callback that advances it by n.
ProgressFactory = Callable[[int, str], Callable[[int], None]]


def no_progress(total: int, label: str) -> Callable[[int], None]:
    """A progress factory that shows nothing."""
    return lambda n: None


@dataclass(frozen=True)
class CollectionSample:
    """Sampled rows of one kind, sorted by row id, with their vectors (one row each), and
    how many rows of that kind the collection holds."""

    rows: list[StoredRow]
    vectors: np.ndarray
    total_rows: int

    @property
    def complete(self) -> bool:
        """Whether the sample holds every row of the collection."""
        return len(self.rows) >= self.total_rows


def content_signature(store: GifStore) -> str:
    """Return what changes when rows are added or deleted, or the collection is made anew
    (store.content_mark of each kind), and not when a link check marks rows."""
    return "|".join(store.content_mark(kind) for kind in RowKind)


def _all_ids(store: GifStore, kind: str, advance: Callable[[int], None]) -> Iterator[str]:
    offset = 0
    while True:
        page = store.ids_page(kind, offset, ID_PAGE_ROWS)
        advance(len(page))
        yield from page
        if len(page) < ID_PAGE_ROWS:
            return
        offset += len(page)


def read_sample(
    store: GifStore,
    kind: str = RowKind.DESCRIPTION,
    max_rows: int = SAMPLE_ROWS,
    progress: ProgressFactory = no_progress,
) -> CollectionSample:
    """Read the max_rows rows of one kind with the smallest ids, with their vectors."""
    total = store.count_kind(kind)
    if total == 0:
        return CollectionSample([], np.zeros((0, 0), dtype=np.float32), 0)
    chosen = heapq.nsmallest(max_rows, _all_ids(store, kind, progress(total, "sample ids")))
    advance = progress(len(chosen), "sample rows")
    rows: list[StoredRow] = []
    parts: list[np.ndarray] = []
    for start in range(0, len(chosen), GET_PAGE_ROWS):
        page_rows, page_vectors = store.rows_by_ids(chosen[start : start + GET_PAGE_ROWS], kind)
        rows += page_rows
        if len(page_rows):
            parts.append(page_vectors)
        advance(len(chosen[start : start + GET_PAGE_ROWS]))
    if not rows:  # every chosen row was deleted meanwhile
        return CollectionSample([], np.zeros((0, 0), dtype=np.float32), total)
    vectors = np.concatenate(parts)
    del parts  # the pages, before the sorted copy: one copy of the vectors at a time
    order = sorted(range(len(rows)), key=lambda i: rows[i].row_id)
    return CollectionSample([rows[i] for i in order], vectors[order], max(total, len(rows)))
