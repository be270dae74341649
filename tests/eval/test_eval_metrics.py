"""Evaluation metrics, splits and rank fusion on hand-made cases with known answers."""

from __future__ import annotations

import pytest

from search_app.evaluation import (
    PROTOCOL_ALL,
    PROTOCOL_ONE_PER_GIF,
    compute_metrics,
    fuse_rrf,
    fuse_weighted,
    group_max,
    min_max,
    rank_of,
    recall_difference,
    split_all_descriptions,
    split_one_per_gif,
)
from search_app.records import GifRecord

ROWS = [
    GifRecord("https://x.test/1.gif", "a dog runs .", "t"),
    GifRecord("https://x.test/1.gif", "a puppy is running .", "t"),
    GifRecord("https://x.test/1.gif", "dog running fast .", "t"),
    GifRecord("https://x.test/2.gif", "a cat sleeps .", "t"),
    GifRecord("https://x.test/2.gif", "a kitten naps .", "t"),
    GifRecord("https://x.test/3.gif", "a man plays guitar .", "t"),
]


def test_recall_and_mrr_from_known_ranks() -> None:
    metrics = compute_metrics([1, 2, 6, None], ks=(1, 5, 10))
    assert metrics.queries == 4
    assert metrics.recall == {1: 0.25, 5: 0.5, 10: 0.75}
    assert metrics.mrr == pytest.approx((1 + 1 / 2 + 1 / 6 + 0) / 4)


def test_metrics_of_no_queries_are_zero() -> None:
    assert compute_metrics([]).mrr == 0.0


def test_rank_of_is_one_based_and_none_past_the_depth() -> None:
    ranking = [("a", 0.9), ("b", 0.8), ("c", 0.7)]
    assert rank_of("b", ranking) == 2
    assert rank_of("c", ranking, depth=2) is None
    assert rank_of("z", ranking) is None


def test_one_per_gif_indexes_one_description_per_gif_and_queries_the_rest() -> None:
    split = split_one_per_gif(ROWS, seed=0)
    assert split.protocol == PROTOCOL_ONE_PER_GIF
    assert sorted(r.gif_id for r in split.indexed) == sorted({r.gif_id for r in ROWS})
    assert len(split.queries) == 3  # 2 of GIF 1, 1 of GIF 2; GIF 3 is a distractor
    assert not set(split.queries) & set(split.indexed)
    assert split_one_per_gif(ROWS, seed=0) == split
    assert not split.hide_own_row


def test_all_descriptions_indexes_everything_and_queries_multi_description_gifs() -> None:
    split = split_all_descriptions(ROWS)
    assert split.protocol == PROTOCOL_ALL
    assert split.indexed == tuple(ROWS)
    assert split.queries == tuple(ROWS[:5])
    assert split.hide_own_row


def test_group_max_keeps_each_gifs_best_row() -> None:
    assert group_max(["a", "b", "a"], [0.2, 0.5, 0.7]) == [("a", 0.7), ("b", 0.5)]


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = fuse_rrf([[("a", 9.0), ("b", 8.0)], [("b", 3.0), ("c", 2.0)]], k=60)
    assert [g for g, _ in fused] == ["b", "a", "c"]
    assert dict(fused)["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert dict(fused)["c"] == pytest.approx(1 / 62)


def test_weighted_fusion_min_max_scales_each_side() -> None:
    assert min_max([("a", 3.0), ("b", 1.0), ("c", 2.0)]) == {"a": 1.0, "b": 0.0, "c": 0.5}
    semantic = [("a", 0.9), ("b", 0.8), ("c", 0.5)]  # scaled: a 1, b 0.75, c 0
    lexical = [("c", 10.0), ("b", 5.0)]  # scaled: c 1, b 0; a absent counts 0
    fused = dict(fuse_weighted(semantic, lexical, lexical_weight=0.5))
    assert fused == pytest.approx({"a": 0.5, "b": 0.375, "c": 0.5})
    assert [g for g, _ in fuse_weighted(semantic, lexical, 0.5)][:2] == ["a", "c"]


def test_recall_difference_resamples_gifs_and_brackets_the_difference() -> None:
    ranks = [1, 1, 20, 1]
    baseline = [20, 1, 20, 20]
    diff = recall_difference(ranks, baseline, ["g1", "g1", "g2", "g3"], k=10, samples=200)
    assert diff.delta == pytest.approx(0.5)
    assert diff.low <= diff.delta <= diff.high
    same = recall_difference(baseline, baseline, ["g1", "g1", "g2", "g3"])
    assert (same.delta, same.low, same.high) == (0.0, 0.0, 0.0)
