"""BM25 scoring and tokenization, checked against hand computations."""

from __future__ import annotations

import math

import pytest

from search_eval.bm25 import BM25Index, bm25_idf, tokenize

DOCS = ["a dog runs", "a dog and a dog play", "a cat sleeps"]


def hand_bm25(tf: int, df: int, length: int, avg: float, n: int = 3) -> float:
    k1, b = 1.2, 0.75
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg))


def test_bm25_scores_match_the_formula_by_hand() -> None:
    index = BM25Index(DOCS)
    avg = (3 + 6 + 3) / 3  # token counts: 3, 6, 3
    expected = [
        hand_bm25(1, 2, 3, avg),  # "dog" once in a 3-token doc; in 2 of 3 docs
        hand_bm25(2, 2, 6, avg),  # "dog" twice in the 6-token doc
        0.0,
    ]
    assert index.scores("dog") == pytest.approx(expected, rel=1e-6)


def test_bm25_adds_terms_and_counts_a_repeated_query_term_once() -> None:
    index = BM25Index(DOCS)
    both = index.scores("cat sleeps")
    assert both[2] == pytest.approx(2 * hand_bm25(1, 1, 3, 4.0), rel=1e-6)
    assert list(index.scores("cat cat")) == pytest.approx(list(index.scores("cat")))


def test_rare_terms_weigh_more_and_idf_is_never_negative() -> None:
    assert bm25_idf(3, 1) > bm25_idf(3, 2) > bm25_idf(3, 3) > 0.0


def test_top_ranks_best_first_skips_non_matches_and_excludes() -> None:
    index = BM25Index(DOCS)
    top = index.top("dog play", k=5)
    assert [doc for doc, _ in top] == [1, 0]
    assert [doc for doc, _ in index.top("dog play", k=5, exclude=1)] == [0]
    assert index.top("zebra", k=5) == []
    assert len(index.top("a", k=2)) == 2


def test_an_empty_index_scores_nothing() -> None:
    assert BM25Index([]).top("dog", 3) == []


@pytest.mark.parametrize(
    ("raw", "tokens"),
    [
        ("A man's dancing.", ["a", "man", "s", "dancing"]),
        ("a man 's dancing .", ["a", "man", "s", "dancing"]),
        ("Two DOGS, playing!", ["two", "dogs", "playing"]),
    ],
    ids=["raw", "tgif-tokenized", "upper-case"],
)
def test_tokenize_gives_the_same_tokens_for_raw_and_tokenized_text(
    raw: str, tokens: list[str]
) -> None:
    assert tokenize(raw) == tokens
