"""EvalProbe: the one documented seam through which `gifsearch eval` reaches the ranking's
inner steps, so that what eval measures is the code search runs, with one parameter
changed at a time.

SearchEngine.search(request) ranks with the default pooling over a GIF's rows among the
query's nearest. Eval also measures other poolings (ranking.Pooling), another scope (every
description of a GIF, Scope.ALL_DESCRIPTIONS), leave-one-out (the query's own row hidden
as if not stored) and a query given as a raw vector; none of these is a product feature,
so none is a parameter of the engine or of a request. Only search_eval (and tests)
import this module.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from search_app.records import RowKind, StoredRow
from search_app.retrieval.engine import CANDIDATE_FACTOR, HitList, Part, SearchEngine
from search_app.retrieval.ranking import DEFAULT_POOLING, Pooling, ScoredGif, best_row_per_gif
from search_app.retrieval.ranking import rank_rows as _rank_rows
from search_app.retrieval.request import SearchRequest

VECTOR_QUERY_TEXT = "(a query vector)"  # a vector search's request text: never embedded


class Scope(StrEnum):
    """Which description rows a GIF's score pools."""

    NEAREST_ROWS = "nearest-rows"  # its rows among the query's nearest (what search does)
    ALL_DESCRIPTIONS = "all-descriptions"  # every description it has (a second call)


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
        return _rank_rows(self.rows, pooling, self.cosines)


class EvalProbe:
    """The ranking steps of one SearchEngine, opened up for measurement."""

    def __init__(self, engine: SearchEngine) -> None:
        self.engine = engine

    def candidates(
        self,
        vector: np.ndarray,
        depth: int,
        hidden_rows: Collection[str] = (),
        scope: Scope = Scope.NEAREST_ROWS,
    ) -> Candidates:
        """Return the description rows that rank the first `depth` GIFs for a query vector:
        search's own (the nearest rows of at least 3 x depth GIFs), or with the
        all-descriptions scope every description of those GIFs, with cosines from their
        stored vectors. hidden_rows are left out as if not stored."""
        engine = self.engine
        rows = engine._description_rows(vector, depth, hidden_rows=hidden_rows)
        if scope is Scope.NEAREST_ROWS:
            return Candidates(rows)
        gif_ids = list(best_row_per_gif(rows))[: CANDIDATE_FACTOR * depth]
        every, matrix = engine.store.rows_and_vectors_for_gifs(gif_ids, RowKind.DESCRIPTION)
        keep = [i for i, row in enumerate(every) if row.row_id not in hidden_rows]
        if not keep:
            return Candidates([])
        cosines = matrix[keep] @ np.asarray(vector, dtype=np.float32)
        order = np.argsort(-cosines, kind="stable")
        return Candidates([every[keep[i]] for i in order], cosines[order])

    def search_vector(self, vector: np.ndarray, k: int) -> HitList:
        """Search the descriptions with a raw query vector (e.g. a text's vector with
        another's subtracted), through search's own ranking and filters."""
        parts: list[Part] = [(1.0, {RowKind.DESCRIPTION: np.asarray(vector, dtype=np.float32)})]
        return self.engine._rank_parts(parts, SearchRequest(VECTOR_QUERY_TEXT, k=k))
