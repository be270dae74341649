"""Ranking: from a query's nearest rows to one score per GIF, and fusion of ranked lists.

Pure numpy; SearchEngine (search_app/retrieval/engine.py) calls these functions and `gifsearch eval`
calls the same ones, with the pooling as a parameter, so what eval measures is what ships.

Pooling turns the cosines of a GIF's descriptions into the GIF's score. The default,
soft-best, is the best cosine plus a bounded bonus when other descriptions match almost
as well:

    score = min(best + cap, T * log(sum_i exp(cos_i / T)))

With one description it is that description's cosine. Adding a description never lowers
a GIF's score (log-sum-exp only grows with another term, and so does best + cap), and it
is never more than `cap` above the best cosine, so a GIF with 30 descriptions and one with
1 are scored on the same scale. Why this temperature and cap: docs/results.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from search_app.errors import ConfigError
from search_app.records import StoredRow

RRF_K = 60  # reciprocal-rank fusion constant (Cormack, Clarke & Buettcher, SIGIR 2009)
SOFT_BEST_TEMPERATURE = 0.01
SOFT_BEST_CAP = 0.02  # a GIF scores at most this much above its best description


class PoolingKind(StrEnum):
    """How a GIF's description cosines become its score."""

    BEST = "best"  # the best cosine only
    SOFT_BEST = "soft-best"  # the best cosine plus a bounded log-sum-exp bonus (default)
    MAX_MEAN = "max+mean"  # (best + mean) / 2: punishes GIFs described many ways
    MEAN = "mean"  # mean cosine: punishes them more


@dataclass(frozen=True)
class Pooling:
    """A pooling and its parameters (temperature and cap are soft-best's)."""

    kind: PoolingKind = PoolingKind.SOFT_BEST
    temperature: float = SOFT_BEST_TEMPERATURE
    cap: float = SOFT_BEST_CAP

    def __post_init__(self) -> None:
        if self.temperature <= 0 or self.cap < 0:
            raise ConfigError(
                f"soft-best needs a temperature above 0 and a cap of 0 or more, "
                f"not {self.temperature} and {self.cap}"
            )

    @property
    def label(self) -> str:
        """A short name, e.g. 'soft-best(T=0.01, cap=0.02)' or 'max+mean'."""
        if self.kind is PoolingKind.SOFT_BEST:
            return f"{self.kind}(T={self.temperature:g}, cap={self.cap:g})"
        return str(self.kind)


DEFAULT_POOLING = Pooling()
BEST_ONLY = Pooling(PoolingKind.BEST)


@dataclass(frozen=True)
class ScoredGif:
    """One GIF of a ranked list: its score and its nearest row (the best match)."""

    gif_id: str
    score: float
    row: StoredRow


def row_cosine(row: StoredRow) -> float:
    """Return a queried row's cosine similarity: 1 - its cosine distance."""
    return 1.0 - float(row.distance or 0.0)


def pool_cosines(
    cosines: np.ndarray, groups: np.ndarray, group_count: int, pooling: Pooling = DEFAULT_POOLING
) -> np.ndarray:
    """Return each group's pooled score (float64) from its members' cosines.

    groups[i] is the group (0 <= g < group_count) of cosines[i]; every group needs a member.
    """
    cosines = np.asarray(cosines, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    best = np.full(group_count, -np.inf)
    np.maximum.at(best, groups, cosines)
    if pooling.kind is PoolingKind.BEST:
        return best
    if pooling.kind is PoolingKind.SOFT_BEST:
        weights = np.zeros(group_count)
        np.add.at(weights, groups, np.exp((cosines - best[groups]) / pooling.temperature))
        soft = best + pooling.temperature * np.log(weights)  # weights >= 1: the best's own term
        return np.minimum(soft, best + pooling.cap)
    sums = np.zeros(group_count)
    np.add.at(sums, groups, cosines)
    mean = sums / np.bincount(groups, minlength=group_count)
    if pooling.kind is PoolingKind.MEAN:
        return mean
    return (best + mean) / 2.0


def rank_rows(
    rows: Sequence[StoredRow],
    pooling: Pooling = DEFAULT_POOLING,
    cosines: np.ndarray | None = None,
) -> list[ScoredGif]:
    """Group rows by GIF and rank the GIFs by their pooled cosines, best first.

    rows are queried rows, nearest first; each GIF's first row is its best match. cosines
    overrides the rows' own (1 - distance), e.g. cosines computed from stored vectors.
    Ties keep the better best cosine, then the rows' order.
    """
    if not rows:
        return []
    values = np.array([row_cosine(r) for r in rows]) if cosines is None else np.asarray(cosines)
    index: dict[str, int] = {}
    first: list[int] = []
    groups = np.empty(len(rows), dtype=np.int64)
    for position, row in enumerate(rows):
        group = index.setdefault(row.gif_id, len(index))
        if group == len(first):
            first.append(position)
        groups[position] = group
    scores = pool_cosines(values, groups, len(index), pooling)
    best = np.full(len(index), -np.inf)
    np.maximum.at(best, groups, values)
    order = sorted(range(len(index)), key=lambda g: (-scores[g], -best[g], g))
    return [ScoredGif(rows[first[g]].gif_id, float(scores[g]), rows[first[g]]) for g in order]


def best_row_per_gif(rows: Sequence[StoredRow]) -> dict[str, StoredRow]:
    """Keep the nearest row of each GIF (rows come nearest first)."""
    best: dict[str, StoredRow] = {}
    for row in rows:
        best.setdefault(row.gif_id, row)
    return best


@dataclass(frozen=True)
class FusedGif:
    """One GIF after fusion: its score, and its best row and score in each list holding it."""

    gif_id: str
    score: float
    rows: Mapping[str, StoredRow]
    kind_scores: Mapping[str, float]
    fused: bool = False  # whether score is a rank fusion (else it is the one list's score)


TIE = 1e-6  # scores this close are a tie: below float32 cosine's resolution after HNSW


def shared_ranks(scores: Sequence[float]) -> list[int]:
    """Ranks (1 = best) of a list sorted best first, where tied scores share the best rank
    of their run ("1, 2, 2, 4"): two GIFs with the same frames or the same description must
    not be told apart by the order the index happened to return them in."""
    ranks: list[int] = []
    lead = 0.0
    for position, score in enumerate(scores, start=1):
        if ranks and abs(lead - score) <= TIE:
            ranks.append(ranks[-1])
        else:
            ranks.append(position)
            lead = score
    return ranks


def rrf_scores(
    lists: Sequence[Sequence[ScoredGif | FusedGif]], weights: Sequence[float]
) -> dict[str, float]:
    """Return each GIF's sum over the lists of weight / (RRF_K + its rank), tied scores
    sharing a rank; a GIF missing from a list adds nothing for it."""
    scores: dict[str, float] = {}
    for gifs, weight in zip(lists, weights, strict=True):
        for rank, gif in zip(shared_ranks([g.score for g in gifs]), gifs, strict=True):
            scores[gif.gif_id] = scores.get(gif.gif_id, 0.0) + weight / (RRF_K + rank)
    return scores


def fuse_ranks(ranked: Mapping[str, Sequence[ScoredGif]], prefer: str = "") -> list[FusedGif]:
    """Merge ranked lists of GIFs (one per kind of match) into one list.

    One non-empty list: its order and scores, unchanged. Several: reciprocal-rank fusion,
    score = (RRF_K + 1) / n_lists x sum over lists of 1 / (RRF_K + rank), where a GIF
    missing from a list adds nothing and tied scores share a rank (shared_ranks). A GIF
    first in every list scores 1.0; first in one of two lists and absent from the other,
    ~0.5. Equal scores: GIFs in the `prefer` list first, then by id.
    """
    names = [name for name, gifs in ranked.items() if gifs]
    if not names:  # an empty collection, or its only GIF left out by "more like this"
        return []
    if len(names) == 1:
        name = names[0]
        return [FusedGif(g.gif_id, g.score, {name: g.row}, {name: g.score}) for g in ranked[name]]
    rows: dict[str, dict[str, StoredRow]] = {}
    kind_scores: dict[str, dict[str, float]] = {}
    for name in names:
        for gif in ranked[name]:
            rows.setdefault(gif.gif_id, {})[name] = gif.row
            kind_scores.setdefault(gif.gif_id, {})[name] = gif.score
    fused_scores = rrf_scores([ranked[name] for name in names], [1.0] * len(names))
    scale = (RRF_K + 1) / len(names)
    fused = [
        FusedGif(g, fused_scores[g] * scale, rows[g], kind_scores[g], fused=True) for g in rows
    ]
    return sorted(fused, key=lambda g: (-g.score, prefer not in g.rows, g.gif_id))


def fuse_queries(lists: Sequence[Sequence[FusedGif]], weights: Sequence[float]) -> list[FusedGif]:
    """Merge the ranked GIFs of several queries (text, an image, a stored GIF) into one list
    by weighted reciprocal-rank fusion: score = (RRF_K + 1) x sum over queries of
    weight / (RRF_K + rank), divided by the weights' sum, so a GIF first for every query
    scores 1.0; tied scores share a rank (shared_ranks). Ranks, not cosines: a text
    query's and an image query's cosines are on different scales. A GIF keeps the rows
    and per-kind scores of the first query that found it. Equal scores: by id.
    """
    total = sum(weights) or 1.0
    found: dict[str, FusedGif] = {}
    for gifs in lists:
        for gif in gifs:
            found.setdefault(gif.gif_id, gif)
    scores = rrf_scores(lists, weights)
    fused = [
        FusedGif(g, scores[g] * (RRF_K + 1) / total, gif.rows, gif.kind_scores, fused=True)
        for g, gif in found.items()
    ]
    return sorted(fused, key=lambda g: (-g.score, g.gif_id))


# Ranking that remembers: a GIF shared for a query like this one ranks higher, within
# bounds (the share-replay evaluation in search_eval/sharing.py set these; docs/results.md).
SHARE_FLOOR = 0.5  # a past query this close (cosine) to the new one counts
SHARE_BOOST = 0.1  # the most a past share adds to a GIF's ranking score
SHARE_REACH = 0.3  # only GIFs scoring within this of the list's best are lifted
SHARE_DEPTH = 30  # ...and only among this many GIFs past the page (the search looks deeper)


def remember(
    gifs: Sequence[FusedGif], closeness: Mapping[str, float]
) -> tuple[list[FusedGif], set[str]]:
    """Re-rank a query's GIFs with what people shared: a GIF shared for a past query whose
    cosine to this one is c >= SHARE_FLOOR ranks as if it scored
    SHARE_BOOST x (c - SHARE_FLOOR) / (1 - SHARE_FLOOR) more, if it already matches this
    query (it is in the list and scores within SHARE_REACH of its best). Scores are kept
    as they are (a card shows what matched); only the order changes. Returns the list and
    the GIFs lifted. No shares close enough: the list unchanged."""
    if not gifs or not closeness:
        return list(gifs), set()
    reach = gifs[0].score - SHARE_REACH
    lift: dict[str, float] = {}
    for gif in gifs:
        close = closeness.get(gif.gif_id)
        if close is not None and close >= SHARE_FLOOR and gif.score >= reach:
            lift[gif.gif_id] = SHARE_BOOST * (close - SHARE_FLOOR) / (1.0 - SHARE_FLOOR)
    if not lift:
        return list(gifs), set()
    order = sorted(
        range(len(gifs)), key=lambda i: (-(gifs[i].score + lift.get(gifs[i].gif_id, 0.0)), i)
    )
    return [gifs[i] for i in order], set(lift)
