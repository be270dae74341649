"""Completion and related searches: prefixes completed from the collection's phrases and
the person's past searches, related searches near in meaning; a real store, the real
MiniLM, real sample rows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from search_app.embedders.sbert import Embedder
from search_app.errors import ConfigError, EmptyQueryError, QueryTooLongError
from search_app.retrieval.completion import MAX_COMPLETIONS, Completer
from search_app.retrieval.derived import Derived, build_derived
from search_app.retrieval.phrases import (
    STOP_WORDS,
    count_phrases,
    phrase_key,
    plain_form,
    tokens,
)
from search_app.store.client import GifStore
from search_app.store.usage import PastSearch
from tests.conftest import SAMPLE_LINES, filled_settings

POOL = "https://x.test/pool-{}.gif\ta dog jumps into a swimming pool .\n"
ROWS = SAMPLE_LINES[:400] + [POOL.format(n) for n in range(3)]
PAST = [
    PastSearch("a dog jumps into the sea", 1, 300.0),
    PastSearch("A  Dog jogs", 5, 100.0),
    PastSearch("a cat", 9, 900.0),
    PastSearch("a dog jumps", 2, 200.0),
    PastSearch("a dog jumped", 2, 250.0),
]


@pytest.fixture(scope="module")
def derived(
    tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable, minilm: Embedder
) -> Derived:
    settings = filled_settings(tmp_path_factory.mktemp("completion"), ROWS, cached_loader)
    return build_derived(GifStore(settings), minilm.embed_texts)


@pytest.fixture(scope="module")
def completer(derived: Derived, minilm: Embedder) -> Completer:
    return Completer(derived.phrases, derived.related, minilm.embed_query)


@pytest.mark.parametrize(
    ("typed", "key"),
    [("a dog j", "a dog j"), ("A  Dog J", "a dog j"), ("a dog ", "a dog "), ("a dog,", "a dog "),
     ("a man 's h", "a man's h"), ("", ""), ("  ", "")],
    ids=["plain", "case-and-spaces", "word-done", "mark", "detached-apostrophe", "empty", "blank"],
)  # fmt: skip
def test_typed_text_becomes_a_phrase_prefix(typed: str, key: str) -> None:
    assert phrase_key(typed) == key


def test_phrases_are_runs_of_words_that_do_not_end_in_a_function_word() -> None:
    text = "a dog is jumping into a pool ."
    index = count_phrases([tokens(text), tokens(text), tokens("the dog is jumping")])
    counts = dict(zip(index.phrases, index.counts.tolist(), strict=True))
    assert counts["a dog is jumping into a pool"] == 2
    assert counts["dog is jumping"] == 3
    assert counts["pool"] == 2
    assert "the dog is jumping" not in counts  # three words or more: two descriptions
    assert not any(p.split()[-1] in STOP_WORDS for p in counts)
    assert not any(p.split()[0] in STOP_WORDS - {"a", "an", "the"} for p in counts)
    assert set(counts) == {
        "a dog", "a dog is jumping", "a dog is jumping into a pool", "dog", "dog is jumping",
        "dog is jumping into a pool", "jumping", "jumping into a pool", "a pool", "pool",
        "the dog",
    }  # fmt: skip


@pytest.mark.parametrize("typed", ["a dog j", "danc", "a man ", "a", "two g"])
def test_completions_start_with_the_prefix_and_are_the_most_used(
    derived: Derived, completer: Completer, typed: str
) -> None:
    k = 8
    found = completer.complete(typed, k)
    key = phrase_key(typed)
    index = derived.phrases
    count = dict(zip(index.phrases, index.counts.tolist(), strict=True))
    assert 1 <= len(found) <= k
    assert all(phrase.startswith(key) and phrase != key.strip() for phrase in found)
    counts = [count[phrase] for phrase in found]
    assert counts == sorted(counts, reverse=True)
    others = [p for p in index.phrases if p.startswith(key) and p not in found and p != key.strip()]
    if len(found) == k:  # none left out is used more than the least used shown
        assert all(count[p] <= counts[-1] for p in others)
    else:
        assert others == []


def test_a_dog_j_completes_to_what_the_collection_says(completer: Completer) -> None:
    found = completer.complete("a dog j", 10)
    assert "a dog jumps" in found
    assert "a dog jumps into a swimming pool" in found  # three descriptions say it
    assert completer.complete("A DOG J", 10) == found


def test_past_searches_that_match_come_first_most_often_then_most_recent(
    completer: Completer,
) -> None:
    found = completer.complete("a dog j", 8, PAST)
    assert found[:4] == ["A Dog jogs", "a dog jumped", "a dog jumps", "a dog jumps into the sea"]
    assert "a cat" not in found
    assert found.count("a dog jumps") == 1  # a phrase the person searched is not repeated
    from_collection = [p for p in completer.complete("a dog j", 8) if p != "a dog jumps"]
    assert found[4:] == from_collection[:4]


def test_an_empty_prefix_offers_past_searches_only(completer: Completer) -> None:
    assert completer.complete("", 3, PAST) == ["a cat", "A Dog jogs", "a dog jumped"]
    assert completer.complete("   ", 10) == []
    assert completer.suggestions("  ", 5) == []


def test_a_past_search_with_a_control_character_is_not_offered(completer: Completer) -> None:
    past = [PastSearch("a dog\x1b[31m jumps", 9, 1.0), PastSearch("a dog jogs", 1, 1.0)]
    assert completer.complete("a dog j", 1, past) == ["a dog jogs"]


def test_query_language_is_completed_from_past_searches_only(completer: Completer) -> None:
    past = [PastSearch("a dog -ball", 1, 1.0)]
    assert completer.complete("a dog -b", 5, past) == ["a dog -ball"]
    assert completer.complete('"a dog', 5) == []


@pytest.mark.parametrize("k", [0, -1, MAX_COMPLETIONS + 1], ids=["zero", "negative", "over"])
def test_the_number_of_completions_is_bounded(completer: Completer, k: int) -> None:
    with pytest.raises(ConfigError, match=f"from 1 to {MAX_COMPLETIONS}"):
        completer.complete("a", k)
    with pytest.raises(ConfigError):
        completer.suggestions("a dog", k)


def test_k_completions_at_most(completer: Completer) -> None:
    assert len(completer.complete("a", 1)) == 1
    assert len(completer.complete("a", MAX_COMPLETIONS)) == MAX_COMPLETIONS


def test_a_prefix_longer_than_a_query_is_one_line_error(completer: Completer) -> None:
    with pytest.raises(QueryTooLongError, match="1000 at most"):
        completer.complete("a" * 1_001, 5)


@pytest.mark.parametrize(
    ("query", "related"),
    [("a dog runs", ("dog", "puppy", "running", "chasing")),
     ("kiss", ("lips", "hug", "hugging", "kissing", "couple"))],
    ids=["dog", "kiss"],
)  # fmt: skip
def test_related_searches_are_near_in_meaning_new_and_deterministic(
    derived: Derived, completer: Completer, minilm: Embedder, query: str, related: tuple[str]
) -> None:
    found = completer.suggestions(query, 6)
    assert len(found) == 6
    assert completer.suggestions(query, 6) == found
    held = {plain_form(word) for word in tokens(query)}
    assert not any(set(plain_form(p).split()) <= held for p in found)
    assert len({plain_form(p) for p in found}) == len(found)
    assert any(word in phrase.split() for phrase in found for word in related), found
    vector = minilm.embed_query(query)
    position = {phrase: i for i, phrase in enumerate(derived.related.phrases)}
    nearness = [float(derived.related.vectors[position[p]] @ vector) for p in found]
    assert nearness == sorted(nearness, reverse=True)
    assert nearness[-1] > float(np.median(derived.related.vectors @ vector))


def test_related_searches_of_an_exclusion_only_query_are_one_line_error(
    completer: Completer,
) -> None:
    with pytest.raises(EmptyQueryError):
        completer.suggestions("-cat", 5)


def test_nothing_to_complete_from_gives_past_searches_only(minilm: Embedder) -> None:
    empty = Completer(embed_query=minilm.embed_query)
    assert empty.complete("a dog", 5, PAST) == ["A Dog jogs", "a dog jumped", "a dog jumps",
                                                "a dog jumps into the sea"]  # fmt: skip
    assert empty.suggestions("a dog", 5) == []
