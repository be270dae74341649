"""The query language: what to find, and what to leave out.

    a dog plays outside -ball -"red ball"

is the positive query "a dog plays outside" with the word "ball" and the phrase "red ball"
excluded. A minus starts an exclusion only at the start of a word (t-shirt and a lone "-"
stay in the query); a phrase is quoted. A GIF is left out when any of its descriptions
holds an excluded word or phrase as whole words, ignoring case, punctuation and how the
text is encoded (composed or decomposed accents, ligatures and full-width letters, and
invisible marks such as zero-width spaces and right-to-left marks), a plural and its
singular alike (-ball leaves out "balls", -dogs "dog", -puppies "puppy"). At most
MAX_EXCLUSIONS terms; a query with more is refused rather than some dropped. Pure text
handling: no model, no store.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from search_app.errors import EmptyQueryError, QueryTooLongError

MAX_EXCLUSIONS = 10
COMBINING = "\u0300-\u036f"  # accents NFC can't compose stay part of their word
EXCLUSION = re.compile(rf'(?:(?<=\s)|^)-(?:"([^"]*)"|(\w[\w{COMBINING}\'-]*))')
WORD = re.compile(rf"\w[\w{COMBINING}]*")
# Invisible format characters (Unicode category Cf: soft hyphen, zero-width space and
# joiners, bidi marks and isolates, word joiner, BOM, tags): they split or hide words.
INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb\U000e0001\U000e0020-\U000e007f]"
)
MIN_STEM_CHARS = 3  # "is" is not the plural of "i", nor "bus" of "bu"
FORMS_CACHE_WORDS = 65_536


@dataclass(frozen=True)
class ParsedQuery:
    """A query split into its positive text and its excluded terms (each a word tuple)."""

    text: str
    excluded: tuple[tuple[str, ...], ...] = ()

    @property
    def excluded_text(self) -> list[str]:
        """The excluded terms as written back: ball, "red ball"."""
        return [f'"{" ".join(t)}"' if len(t) > 1 else t[0] for t in self.excluded]


def visible(text: str) -> str:
    """Return text composed (NFC) and without invisible format characters."""
    return INVISIBLE.sub("", unicodedata.normalize("NFC", text))


def words(text: str) -> tuple[str, ...]:
    """Return text's word tokens, compared as a reader sees them: case-folded, NFKC
    (ligatures and full-width letters as plain ones), invisible marks removed
    (punctuation and apostrophes split words)."""
    return tuple(WORD.findall(INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()))


def parse_query(text: str) -> ParsedQuery:
    """Split a (cleaned) query into positive text and excluded terms.

    Raises EmptyQueryError when nothing is left to search for, QueryTooLongError for more
    than MAX_EXCLUSIONS excluded terms.
    """
    text = visible(text)
    excluded: list[tuple[str, ...]] = []
    for match in EXCLUSION.finditer(text):
        term = words(match.group(1) if match.group(1) is not None else match.group(2))
        if term and term not in excluded:
            excluded.append(term)
    positive = " ".join(EXCLUSION.sub(" ", text).split())
    if not positive.strip(' "'):
        if not excluded:
            raise EmptyQueryError("the query is empty: type what should happen in the GIF")
        shown = " ".join(f"-{t}" for t in ParsedQuery("", tuple(excluded)).excluded_text)
        raise EmptyQueryError(
            f"the query only leaves things out ({shown[:80]}): say what should happen too, "
            'e.g. "a dog plays outside -ball"'
        )
    if len(excluded) > MAX_EXCLUSIONS:
        raise QueryTooLongError(
            f"the query leaves out {len(excluded)} words or phrases: keep it to "
            f"{MAX_EXCLUSIONS} (none is dropped silently)"
        )
    return ParsedQuery(positive, tuple(excluded))


@functools.lru_cache(maxsize=FORMS_CACHE_WORDS)
def forms(word: str) -> frozenset[str]:
    """Return a word and the singulars it may be the plural of: balls -> ball,
    boxes -> box, puppies -> puppy (two words match when their forms meet)."""
    found = {word}
    if word.endswith("ies") and len(word) - 3 >= MIN_STEM_CHARS - 1:
        found.add(word[:-3] + "y")
    if word.endswith("es") and len(word) - 2 >= MIN_STEM_CHARS:
        found.add(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) - 1 >= MIN_STEM_CHARS:
        found.add(word[:-1])
    return frozenset(found)


def mentions(description_words: Sequence[str], term: Sequence[str]) -> bool:
    """Whether the word sequence holds term's words in a row (each as a plural or a
    singular of the other)."""
    wanted = [forms(word) for word in term]
    width = len(wanted)
    for start in range(len(description_words) - width + 1):
        if all(not forms(description_words[start + i]).isdisjoint(wanted[i]) for i in range(width)):
            return True
    return False


def excludes(descriptions: Iterable[str], terms: Sequence[Sequence[str]]) -> bool:
    """Whether any description mentions any of the excluded terms (compared as words()
    reads them, whoever made the terms)."""
    if not terms:
        return False
    wanted = [words(" ".join(term)) for term in terms]
    return any(mentions(words(text), term) for text in descriptions for term in wanted if term)
