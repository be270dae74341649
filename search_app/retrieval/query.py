"""The query language: what to find, and what to leave out.

    a dog plays outside -ball -"red ball"

is the positive query "a dog plays outside" with the word "ball" and the phrase "red ball"
excluded. A minus starts an exclusion only at the start of a word (t-shirt and a lone "-"
stay in the query); a phrase is quoted. A GIF is left out when any of its descriptions
holds an excluded word or phrase as whole words, ignoring case and punctuation, a plural
"s"/"es" included (-ball leaves out "balls"). Pure text handling: no model, no store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from search_app.errors import EmptyQueryError

MAX_EXCLUSIONS = 10
EXCLUSION = re.compile(r'(?:(?<=\s)|^)-(?:"([^"]*)"|(\w[\w\'-]*))')
WORD = re.compile(r"\w+")
PLURAL_ENDINGS = ("s", "es")


@dataclass(frozen=True)
class ParsedQuery:
    """A query split into its positive text and its excluded terms (each a word tuple)."""

    text: str
    excluded: tuple[tuple[str, ...], ...] = ()

    @property
    def excluded_text(self) -> list[str]:
        """The excluded terms as written back: ball, "red ball"."""
        return [f'"{" ".join(t)}"' if len(t) > 1 else t[0] for t in self.excluded]


def words(text: str) -> tuple[str, ...]:
    """Return text's lower-cased word tokens (punctuation and apostrophes split words)."""
    return tuple(WORD.findall(text.lower()))


def parse_query(text: str) -> ParsedQuery:
    """Split a (cleaned) query into positive text and excluded terms.

    Raises EmptyQueryError when nothing is left to search for but exclusions.
    """
    excluded: list[tuple[str, ...]] = []
    for match in EXCLUSION.finditer(text):
        term = words(match.group(1) if match.group(1) is not None else match.group(2))
        if term and term not in excluded:
            excluded.append(term)
    positive = " ".join(EXCLUSION.sub(" ", text).split())
    if not positive.strip(' "'):
        shown = " ".join(f"-{t}" for t in ParsedQuery("", tuple(excluded)).excluded_text)
        raise EmptyQueryError(
            f"the query only leaves things out ({shown[:80]}): say what should happen too, "
            'e.g. "a dog plays outside -ball"'
        )
    return ParsedQuery(positive, tuple(excluded[:MAX_EXCLUSIONS]))


def _variants(token: str) -> set[str]:
    return {token, *(token + ending for ending in PLURAL_ENDINGS)}


def mentions(description_words: Sequence[str], term: Sequence[str]) -> bool:
    """Whether the word sequence holds term's words in a row (each, or its plural)."""
    forms = [_variants(word) for word in term]
    width = len(forms)
    for start in range(len(description_words) - width + 1):
        if all(description_words[start + i] in forms[i] for i in range(width)):
            return True
    return False


def excludes(descriptions: Iterable[str], terms: Sequence[Sequence[str]]) -> bool:
    """Whether any description mentions any of the excluded terms."""
    if not terms:
        return False
    return any(mentions(words(text), term) for text in descriptions for term in terms)
