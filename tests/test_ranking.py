"""search_app.retrieval.ranking: pooling a GIF's description cosines, ranking rows, fusing lists."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from search_app.records import RowKind, StoredRow
from search_app.retrieval.ranking import (
    BEST_ONLY,
    DEFAULT_POOLING,
    RRF_K,
    SOFT_BEST_CAP,
    Pooling,
    PoolingKind,
    ScoredGif,
    fuse_queries,
    fuse_ranks,
    pool_cosines,
    rank_rows,
    shared_ranks,
)

DIM = 6
MONOTONE = [DEFAULT_POOLING, BEST_ONLY, Pooling(PoolingKind.SOFT_BEST, 0.05, 0.05)]

components = st.floats(-1.0, 1.0, allow_nan=False, width=32)
vectors = hnp.arrays(np.float64, (DIM,), elements=components).filter(
    lambda v: np.linalg.norm(v) > 1e-3
)


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def row(gif_id: str, cosine: float, n: int = 0, kind: str = RowKind.DESCRIPTION) -> StoredRow:
    return StoredRow(f"{gif_id}-{n}", gif_id, f"https://x.test/{gif_id}.gif", "", "",
                     1.0 - cosine, kind)  # fmt: skip


def score_of(cosines: list[float], pooling: Pooling) -> float:
    return float(pool_cosines(np.array(cosines), np.zeros(len(cosines), int), 1, pooling)[0])


@settings(max_examples=300, deadline=None)
@given(
    query=vectors,
    own=st.lists(vectors, min_size=1, max_size=30),
    added=vectors,
    pooling=st.sampled_from(MONOTONE),
)
def test_adding_a_description_never_lowers_a_gifs_score(
    query: np.ndarray, own: list[np.ndarray], added: np.ndarray, pooling: Pooling
) -> None:
    q = unit(query)
    cosines = [float(unit(v) @ q) for v in own]
    before = score_of(cosines, pooling)
    after = score_of([*cosines, float(unit(added) @ q)], pooling)
    assert after >= before


@settings(max_examples=150, deadline=None)
@given(
    query=vectors,
    stored=st.lists(st.tuples(vectors, st.integers(0, 7)), min_size=2, max_size=60),
    added=vectors,
    target=st.integers(0, 7),
    nearest=st.integers(1, 40),
)
def test_a_gifs_ranked_score_from_the_nearest_rows_never_drops_when_it_gains_one(
    query: np.ndarray,
    stored: list[tuple[np.ndarray, int]],
    added: np.ndarray,
    target: int,
    nearest: int,
) -> None:
    """As search does it: the query's `nearest` rows (exact here), grouped and pooled."""
    q = unit(query)

    def ranked_score(collection: list[tuple[np.ndarray, int]]) -> float | None:
        cosines = [float(unit(v) @ q) for v, _ in collection]
        order = sorted(range(len(collection)), key=lambda i: -cosines[i])[:nearest]
        rows = [row(f"g{collection[i][1]}", cosines[i], i) for i in order]
        found = {g.gif_id: g.score for g in rank_rows(rows)}
        return found.get(f"g{target}")

    before = ranked_score(stored)
    after = ranked_score([*stored, (added, target)])
    if before is not None:  # a GIF absent from the nearest rows had no score to lose
        assert after is not None and after >= before


@settings(max_examples=200, deadline=None)
@given(cosines=st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=40))
def test_soft_best_stays_within_the_cap_of_the_best_cosine(cosines: list[float]) -> None:
    score = score_of(cosines, DEFAULT_POOLING)
    assert max(cosines) <= score <= max(cosines) + SOFT_BEST_CAP + 1e-12


def test_one_description_scores_its_cosine_and_thirty_equal_ones_at_most_the_cap_more() -> None:
    assert score_of([0.61], DEFAULT_POOLING) == pytest.approx(0.61, abs=1e-12)
    assert score_of([0.61] * 30, DEFAULT_POOLING) == pytest.approx(0.61 + SOFT_BEST_CAP)
    # a second description far below the best adds next to nothing
    assert score_of([0.61, 0.30], DEFAULT_POOLING) - 0.61 < 1e-12


def test_the_old_max_plus_mean_ranking_did_punish_a_description_added() -> None:
    """The property above fails for (best + mean) / 2, which is why it was replaced."""
    old = Pooling(PoolingKind.MAX_MEAN)
    assert score_of([0.8, 0.1], old) < score_of([0.8], old)


def test_rank_rows_groups_by_gif_and_keeps_each_gifs_nearest_row() -> None:
    rows = [row("a", 0.90, 0), row("b", 0.895, 0), row("b", 0.895, 1), row("a", 0.2, 1)]
    ranked = rank_rows(rows)
    assert [g.gif_id for g in ranked] == ["b", "a"]  # two equal matches beat one close one
    assert [g.row.row_id for g in ranked] == ["b-0", "a-0"]
    assert ranked[1].score == pytest.approx(0.90, abs=1e-6)
    assert [g.gif_id for g in rank_rows(rows, BEST_ONLY)] == ["a", "b"]


def scored(gif_id: str, cosine: float, kind: str = RowKind.DESCRIPTION) -> ScoredGif:
    return ScoredGif(gif_id, cosine, row(gif_id, cosine, kind=kind))


def test_one_list_keeps_its_order_and_scores() -> None:
    fused = fuse_ranks(
        {RowKind.DESCRIPTION: [scored("a", 0.9), scored("b", 0.7)], RowKind.FRAME: []}
    )
    assert [(g.gif_id, round(g.score, 6), g.fused) for g in fused] == [
        ("a", 0.9, False),
        ("b", 0.7, False),
    ]
    assert fused[0].kind_scores == {RowKind.DESCRIPTION: 0.9}


def test_two_lists_fuse_ranks_not_scores() -> None:
    descriptions = [scored("a", 0.95), scored("b", 0.90), scored("c", 0.85)]
    frames = [scored(g, c, RowKind.FRAME) for g, c in (("b", 0.31), ("d", 0.30), ("a", 0.20))]
    fused = fuse_ranks({RowKind.DESCRIPTION: descriptions, RowKind.FRAME: frames})
    order = [g.gif_id for g in fused]
    # b: 2nd and 1st; a: 1st and 3rd; d: 2nd by frames beats c: 3rd by descriptions,
    # though d's cosine (0.30) is far below c's (0.85): ranks count, not cosines
    assert order == ["b", "a", "d", "c"]
    scale = (RRF_K + 1) / 2
    b = fused[0]
    assert b.score == pytest.approx(scale * (1 / (RRF_K + 2) + 1 / (RRF_K + 1)))
    assert set(b.rows) == {RowKind.DESCRIPTION, RowKind.FRAME} and b.fused
    assert b.kind_scores == {RowKind.DESCRIPTION: 0.90, RowKind.FRAME: 0.31}
    d = fused[2]  # matched only by frames
    assert set(d.rows) == {RowKind.FRAME} and d.score == pytest.approx(scale / (RRF_K + 2))


def test_a_tie_goes_to_the_preferred_list() -> None:
    lists = {
        RowKind.DESCRIPTION: [scored("z", 0.5)],
        RowKind.FRAME: [scored("a", 0.3, RowKind.FRAME)],
    }
    fused = fuse_ranks(lists, prefer=RowKind.DESCRIPTION)
    assert [g.gif_id for g in fused] == ["z", "a"]
    assert fused[0].score == fused[1].score == pytest.approx(0.5)


def test_tied_scores_share_the_best_rank_of_their_run() -> None:
    assert shared_ranks([0.9, 0.8, 0.8, 0.8, 0.7, 0.7]) == [1, 2, 2, 2, 5, 5]
    assert shared_ranks([0.5, 0.5 - 1e-7, 0.4]) == [1, 1, 3]  # below float32 resolution
    assert shared_ranks([]) == []


def test_a_gif_tied_first_for_both_queries_beats_gifs_first_for_one() -> None:
    """'both' has the text's description and the image's frames: a tie with 'text' in the
    text's list and with 'image' in the image's list. In whatever order the index returns
    the tied GIFs, 'both' must come first (with ranks by position it lost 1/62 + 1/62 to
    1/61 + 1/63 whenever it came second in both lists)."""
    for text_first, image_first in (("text", "image"), ("both", "both"), ("text", "both")):
        text_second = "both" if text_first == "text" else "text"
        image_second = "both" if image_first == "image" else "image"
        by_text = [scored(text_first, 0.9), scored(text_second, 0.9), scored("image", 0.2)]
        by_image = [scored(image_first, 0.8), scored(image_second, 0.8), scored("text", 0.1)]
        lists = [fuse_ranks({RowKind.DESCRIPTION: gifs}) for gifs in (by_text, by_image)]
        fused = fuse_queries(lists, [0.5, 0.5])
        assert fused[0].gif_id == "both" and fused[0].score == pytest.approx(1.0)


def test_no_rows_fuse_to_nothing() -> None:
    assert fuse_ranks({RowKind.DESCRIPTION: [], RowKind.FRAME: []}) == []
