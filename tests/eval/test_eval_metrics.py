"""Evaluation metrics, strata, bootstrap intervals and splits on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from search_app.records import GifRecord
from search_eval.metrics import (
    ALL_STRATA,
    ClusterBootstrap,
    measure_strata,
    metric_columns,
    rank_of,
    stratum_of,
)
from search_eval.splits import Protocol, split_all_descriptions, split_one_per_gif

ROWS = [
    GifRecord("https://x.test/1.gif", "a dog runs .", "t"),
    GifRecord("https://x.test/1.gif", "a puppy is running .", "t"),
    GifRecord("https://x.test/1.gif", "dog running fast .", "t"),
    GifRecord("https://x.test/2.gif", "a cat sleeps .", "t"),
    GifRecord("https://x.test/2.gif", "a kitten naps .", "t"),
    GifRecord("https://x.test/3.gif", "a man plays guitar .", "t"),
]


def test_recall_and_reciprocal_rank_per_query_from_known_ranks() -> None:
    columns = metric_columns([1, 2, 6, None])
    assert list(columns["recall@1"]) == [1, 0, 0, 0]
    assert list(columns["recall@5"]) == [1, 1, 0, 0]
    assert list(columns["recall@10"]) == [1, 1, 1, 0]
    assert list(columns["mrr"]) == pytest.approx([1, 1 / 2, 1 / 6, 0])


def test_rank_of_is_one_based_and_none_past_the_depth() -> None:
    ranking = ["a", "b", "c"]
    assert rank_of("b", ranking) == 2
    assert rank_of("c", ranking, depth=2) is None
    assert rank_of("z", ranking) is None


@pytest.mark.parametrize(
    ("findable", "label"),
    [(1, "1"), (2, "2"), (3, "3-4"), (4, "3-4"), (5, "5-9"), (9, "5-9"), (10, "10+"), (32, "10+")],
)
def test_strata_by_findable_descriptions(findable: int, label: str) -> None:
    assert stratum_of(findable) == label


def test_a_target_without_findable_descriptions_has_no_stratum() -> None:
    with pytest.raises(ValueError, match="1 or more"):
        stratum_of(0)


def test_bootstrap_resamples_gifs_and_brackets_the_mean() -> None:
    values = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    interval = ClusterBootstrap(["g1", "g1", "g2", "g3", "g4", "g4"], samples=300).interval(values)
    assert interval.value == pytest.approx(0.5)
    assert 0.0 <= interval.low < 0.5 < interval.high <= 1.0
    constant = ClusterBootstrap(["a", "b", "c"]).interval(np.ones(3))
    assert (constant.value, constant.low, constant.high) == (1.0, 1.0, 1.0)


def test_measure_strata_splits_queries_and_pairs_the_difference() -> None:
    ranks = [1, 1, 20, 1, None]
    baseline = [20, 1, 20, 20, None]
    strata = ["1", "1", "2", "10+", "10+"]
    clusters = ["g1", "g1", "g2", "g3", "g4"]
    result = measure_strata(ranks, baseline, strata, clusters)
    assert list(result) == [ALL_STRATA, "1", "2", "10+"]  # STRATA order, empty ones left out
    assert result[ALL_STRATA].queries == 5
    assert result[ALL_STRATA].metrics["recall@10"].value == pytest.approx(3 / 5)
    assert result["1"].recall10_vs_baseline.value == pytest.approx(0.5)
    assert result["2"].recall10_vs_baseline.to_dict() == {"value": 0.0, "low": 0.0, "high": 0.0}
    assert result["10+"].metrics["mrr"].value == pytest.approx(0.5)
    same = measure_strata(baseline, None, strata, clusters)
    assert same["1"].recall10_vs_baseline is None


def test_one_per_gif_indexes_one_description_per_gif_and_queries_the_rest() -> None:
    split = split_one_per_gif(ROWS, seed=0)
    assert split.protocol is Protocol.ONE_PER_GIF
    assert sorted(r.gif_id for r in split.indexed) == sorted({r.gif_id for r in ROWS})
    assert len(split.queries) == 3  # 2 of GIF 1, 1 of GIF 2; GIF 3 is a distractor
    assert not set(split.queries) & set(split.indexed)
    assert split_one_per_gif(ROWS, seed=0) == split
    assert set(split.findable_per_gif().values()) == {1}


def test_all_descriptions_indexes_everything_and_hides_each_querys_own_row() -> None:
    split = split_all_descriptions(ROWS)
    assert split.protocol is Protocol.ALL_DESCRIPTIONS
    assert split.indexed == tuple(ROWS)
    assert split.queries == tuple(ROWS[:5])
    assert split.hide_own_row
    assert sorted(split.findable_per_gif().values()) == [0, 1, 2]
