"""Splits: which descriptions eval indexes and which it asks with.

GIFs with several descriptions (rows sharing a URL) give queries with a known answer.

- one-per-gif: one description of every GIF is indexed; each other description of a
  multi-description GIF is a query. Single-description GIFs are distractors.
- all-descriptions: every description is indexed, as the app does; each description of a
  multi-description GIF is a query, hidden from its own search (leave one out).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from search_app.records import GifRecord


class Protocol(StrEnum):
    """How a split picks the indexed rows and the queries."""

    ONE_PER_GIF = "one-per-gif"
    ALL_DESCRIPTIONS = "all-descriptions"


@dataclass(frozen=True)
class EvalSplit:
    """Rows to index and queries (each query's gif_id is the right answer)."""

    protocol: Protocol
    indexed: tuple[GifRecord, ...]
    queries: tuple[GifRecord, ...]
    hide_own_row: bool  # queries are indexed rows too: each is hidden from its own search

    def findable_per_gif(self) -> dict[str, int]:
        """Return, per GIF, how many of its descriptions a query of it can find."""
        counts: dict[str, int] = {}
        for row in self.indexed:
            counts[row.gif_id] = counts.get(row.gif_id, 0) + 1
        hidden = 1 if self.hide_own_row else 0
        return {gif: n - hidden for gif, n in counts.items()}


def group_by_gif(rows: Iterable[GifRecord]) -> dict[str, list[GifRecord]]:
    """Return each GIF's rows, GIFs and rows in input order."""
    groups: dict[str, list[GifRecord]] = {}
    for row in rows:
        groups.setdefault(row.gif_id, []).append(row)
    return groups


def split_one_per_gif(rows: Sequence[GifRecord], seed: int = 0) -> EvalSplit:
    """Index one seeded-random description per GIF; the others of each GIF are the queries."""
    indexed: list[GifRecord] = []
    queries: list[GifRecord] = []
    for group in group_by_gif(rows).values():
        keep = min(group, key=lambda r: hashlib.blake2b(f"{seed}:{r.row_id}".encode()).digest())
        indexed.append(keep)
        queries.extend(r for r in group if r is not keep)
    return EvalSplit(Protocol.ONE_PER_GIF, tuple(indexed), tuple(queries), hide_own_row=False)


def split_all_descriptions(rows: Sequence[GifRecord]) -> EvalSplit:
    """Index every description; each description of a GIF with two or more is a query."""
    groups = group_by_gif(rows)
    queries = tuple(r for group in groups.values() if len(group) > 1 for r in group)
    return EvalSplit(Protocol.ALL_DESCRIPTIONS, tuple(rows), queries, hide_own_row=True)


def make_split(protocol: Protocol, rows: Sequence[GifRecord], seed: int = 0) -> EvalSplit:
    """Return the split of rows under protocol."""
    if protocol is Protocol.ONE_PER_GIF:
        return split_one_per_gif(rows, seed)
    return split_all_descriptions(rows)
