"""Completion and related searches: what the query box offers while a person types.

complete(prefix) offers the person's own past searches that start with what was typed
(most often searched first, then most recent), then the collection's own phrases that do
(retrieval/phrases.py: the most used first). A prefix holding the query language's
exclusions or quotes is completed from past searches only: no phrase of a description
holds them.

suggestions(query) offers related searches: phrases of the collection near the query in
meaning. The candidates (the RELATED_PHRASES topic phrases most used in the sample, and
the categories' search terms) are embedded with the collection's model when they are
built; the query is embedded with it too, and the candidates nearest it are offered,
leaving out those whose words the query already holds and those that say the same as one
offered already (phrases.plain_form). (The unit mean of the vectors of the descriptions
using a phrase needs no model, but it offered words of the phrase's contexts: "fell",
"almost" for "a car crash"; docs/results.md.)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from search_app.errors import ConfigError, QueryTooLongError
from search_app.retrieval.featured import unit_rows
from search_app.retrieval.phrases import PhraseIndex, phrase_key, plain_form, tokens
from search_app.retrieval.query import parse_query
from search_app.retrieval.request import MAX_QUERY_CHARS
from search_app.store.usage import PastSearch

MAX_COMPLETIONS = 50
RELATED_PHRASES = 1_000  # related-search candidates: 1.5 MB of 384-d vectors, embedded
# in ~2 s at a build (docs/results.md)
MIN_RELATED_COUNT = 3  # descriptions of the sample that use a candidate, at least
# Embeds texts with the collection's model, one unit vector a row (Embedder.embed_texts).
TextEmbedding = Callable[[Sequence[str]], np.ndarray]
QUERY_SYNTAX = re.compile(r'(?:^|\s)-\S|"')  # an exclusion or a quoted phrase


@dataclass(frozen=True)
class RelatedPhrases:
    """Candidate related searches and their unit vectors (one row each)."""

    phrases: tuple[str, ...]
    vectors: np.ndarray

    @classmethod
    def empty(cls) -> RelatedPhrases:
        """No candidates (a collection with no descriptions)."""
        return cls((), np.zeros((0, 0), dtype=np.float32))


def related_candidates(row_topics: Sequence[set[str]], extra: Sequence[str] = ()) -> list[str]:
    """Return the candidate related searches: the RELATED_PHRASES topic phrases that most
    sampled rows use (at least MIN_RELATED_COUNT; ties: alphabetical), then the extra
    phrases (category search terms) that any row uses."""
    used: Counter[str] = Counter()
    for topics in row_topics:
        used.update(topics)
    frequent = sorted(
        (phrase for phrase, n in used.items() if n >= MIN_RELATED_COUNT),
        key=lambda phrase: (-used[phrase], phrase),
    )[:RELATED_PHRASES]
    return list(dict.fromkeys([*frequent, *(p for p in extra if used[p])]))


def build_related(phrases: Sequence[str], embed_texts: TextEmbedding) -> RelatedPhrases:
    """Give each candidate phrase its unit vector from the collection's model."""
    if not phrases:
        return RelatedPhrases.empty()
    vectors = np.asarray(embed_texts(list(phrases)), dtype=np.float64)
    return RelatedPhrases(tuple(phrases), unit_rows(vectors).astype(np.float32))


def check_count(k: int) -> int:
    """Return k when it is 1 to MAX_COMPLETIONS, else raise ConfigError."""
    if not 1 <= k <= MAX_COMPLETIONS:
        raise ConfigError(f"k {k!r} must be a whole number from 1 to {MAX_COMPLETIONS}")
    return k


def check_text(text: str, what: str) -> str:
    """Return text when it is no longer than a query may be, else raise QueryTooLongError."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryTooLongError(f"the {what} is {len(text)} characters; {MAX_QUERY_CHARS} at most")
    return text


class Completer:
    """Completes prefixes and offers related searches from one state of a collection."""

    def __init__(
        self,
        phrases: PhraseIndex | None = None,
        related: RelatedPhrases | None = None,
        embed_query: Callable[[str], np.ndarray] | None = None,
    ) -> None:
        self.phrases = phrases or PhraseIndex([], np.zeros(0, dtype=np.int64))
        self.related = related or RelatedPhrases.empty()
        self.embed_query = embed_query  # None: no related searches

    def complete(self, prefix: str, k: int, past: Sequence[PastSearch] = ()) -> list[str]:
        """Return up to k completions of prefix, best first: the person's past searches
        that start with it (more often, then more recently searched first), then the
        collection's phrases that do (more used first). Neither repeats what was typed;
        an empty prefix gives the past searches alone."""
        check_count(k)
        key = phrase_key(check_text(prefix, "prefix"))
        typed = key.rstrip()
        found: dict[str, str] = {}  # a completion's words -> the completion shown
        for search in sorted(past, key=lambda s: (-s.count, -s.last_at, s.query)):
            words = " ".join(tokens(search.query))
            shown = " ".join(search.query.split())
            if not shown.isprintable():  # a control character is no query to offer back
                continue
            if words and words.startswith(key) and words != typed and words not in found:
                found[words] = shown
                if len(found) == k:
                    return list(found.values())
        if key and not QUERY_SYNTAX.search(prefix):
            for phrase in self.phrases.complete(key, k + len(found)):
                found.setdefault(phrase, phrase)
        return list(found.values())[:k]

    def suggestions(self, query: str, k: int) -> list[str]:
        """Return up to k related searches for a query, nearest in meaning first (see the
        module); none for a blank query or a collection with no descriptions."""
        check_count(k)
        if not check_text(query, "query").strip():
            return []
        text = parse_query(query).text
        if self.embed_query is None or not self.related.phrases:
            return []
        nearness = self.related.vectors @ self.embed_query(text).astype(np.float32)
        held = {plain_form(word) for word in tokens(text)}
        said: set[str] = set()
        offered = []
        for i in np.argsort(-nearness, kind="stable"):
            phrase = self.related.phrases[int(i)]
            plain = plain_form(phrase)
            if set(plain.split()) <= held or plain in said:
                continue
            said.add(plain)
            offered.append(phrase)
            if len(offered) == k:
                break
        return offered
