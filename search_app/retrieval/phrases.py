"""The phrases of a collection's descriptions: the words people would type, counted.

A description's words are lower-cased tokens (letters and digits; an apostrophe inside a
word keeps it whole, and TGIF's detached "man 's" is joined back to "man's"). Two kinds of
phrase are taken from them:

- completion phrases: runs of 1 to MAX_PHRASE_WORDS words that a person might type as a
  query or the start of one ("a dog jumps", "dog jumping into a pool"): they do not end
  in a stop word, and begin with a word that is not one, or with "a", "an" or "the".
- topic phrases: runs of 1 to MAX_TOPIC_WORDS words with no stop word at either end (nor
  a LEADING_WORDS one at the end) and only articles and prepositions inside ("guitar",
  "playing the guitar"; not "man is playing", "woman wearing"): what a category is named
  by and related searches offer.

Stop words are function words only (sklearn's English list also drops words such as
"fire", "top" and "back", which name what happens in a GIF).

The PhraseIndex answers a prefix with its most used completions: the phrases sorted, a
bisection finds those that start with the prefix, and a partial sort picks the most
frequent of them (a few milliseconds even when the prefix is one letter).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
DETACHED_APOSTROPHE = re.compile(r"(?<=\w)\s+(?='\w)")  # TGIF writes "man 's", "is n't"
MAX_PHRASE_WORDS = 8
MAX_TOPIC_WORDS = 3
MAX_PHRASE_CHARS = 80
MAX_PHRASES = 250_000  # ~15 MB held for completion; the most used are kept
LONG_PHRASE_WORDS = 3  # phrases this long or longer need MIN_LONG_COUNT descriptions
MIN_LONG_COUNT = 2  # a long phrase used once is one description's wording, not a phrase
OPENING_WORDS = frozenset({"a", "an", "the"})
PREPOSITIONS = frozenset(
    """of in on at to from by with without into onto over under up down out off about
    above below across along around through between behind before after during for as
    like near toward towards upon within against among""".split()
)
# Function words: a phrase does not end in one (nor, but for OPENING_WORDS, begin with one).
STOP_WORDS = (
    OPENING_WORDS
    | PREPOSITIONS
    | frozenset(
        """and or but nor so yet if then than that this these those there here
    is are was were be been being am do does did doing has have had having will would
    shall should can could may might must n't not no while
    i me my we us our you your he him his she her it its they them their who whom whose
    which what when where why how
    very just also too really again still some any each every all both other another
    such own same""".split()
    )
)
LINKING_WORDS = OPENING_WORDS | PREPOSITIONS  # may stand inside a topic phrase
# Words that lead on to what a description is about and never end a topic: TGIF's "in
# front of", "wearing a", "holding a" named themes "Talking in front", "Woman wearing".
LEADING_WORDS = frozenset({"front", "wearing", "holding", "using", "something", "someone"})
WORD_ENDINGS = ("ing", "es", "er", "ed", "s")
MIN_STEM_CHARS = 3


def tokens(text: str) -> list[str]:
    """Return a text's lower-cased word tokens (a detached "'s" joined to its word)."""
    return TOKEN.findall(DETACHED_APOSTROPHE.sub("", text.lower()))


def phrase_key(text: str) -> str:
    """Return typed text as a phrase prefix: its tokens joined by single spaces, and a
    trailing space when the last word is finished (the text ends in a space or mark)."""
    words = tokens(text)
    if not words:
        return ""
    last = text.rstrip()
    finished = text != last or not (last[-1:].isalnum() or last.endswith("'"))
    return " ".join(words) + (" " if finished else "")


def topic_phrases(words: Sequence[str], max_words: int = MAX_TOPIC_WORDS) -> set[str]:
    """Return the topic phrases of a description's tokens (see the module)."""
    found: set[str] = set()
    for start, first in enumerate(words):
        if first in STOP_WORDS:
            continue
        for stop in range(start + 1, min(start + max_words, len(words)) + 1):
            last = words[stop - 1]
            if last in STOP_WORDS and last not in LINKING_WORDS:
                break  # "man is playing" reads as no topic
            if last not in STOP_WORDS and last not in LEADING_WORDS:
                found.add(" ".join(words[start:stop]))
    return found


def stem(word: str) -> str:
    """A word without a common ending ("dancing", "dances", "dancer", "dance": "danc"),
    to tell phrases apart that say the same; not a linguist's stem."""
    for ending in WORD_ENDINGS:
        if ending == "s" and word.endswith("ss"):  # "kiss", "glass": no plural
            break
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM_CHARS:
            word = word[: -len(ending)]
            break
    return word.removesuffix("e") if len(word) > MIN_STEM_CHARS else word


def plain_form(phrase: str) -> str:
    """A phrase's words stemmed: "dogs" and "dog", "dancing" and "dances" say the same."""
    return " ".join(stem(word) for word in phrase.split())


class PhraseIndex:
    """Completion phrases and how many descriptions use each, answering prefixes."""

    def __init__(self, phrases: Sequence[str], counts: np.ndarray) -> None:
        order = sorted(range(len(phrases)), key=lambda i: phrases[i])
        self.phrases: list[str] = [phrases[i] for i in order]
        self.counts: np.ndarray = np.asarray(counts, dtype=np.int64)[order]
        size = len(self.phrases)
        # One number orders by count, then alphabetically (the earlier phrase higher), so
        # a partial sort of a prefix's range gives a deterministic answer with no ties.
        self._rank = self.counts * (size + 1) + (size - np.arange(size, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.phrases)

    def complete(self, key: str, k: int) -> list[str]:
        """Return up to k phrases that start with key (phrase_key's form) and say more than
        it, most used first (ties: alphabetical)."""
        if not key.strip() or k < 1:
            return []
        low = bisect.bisect_left(self.phrases, key)
        high = bisect.bisect_left(self.phrases, key + "\U0010ffff", lo=low)
        wanted = k + 1  # the key itself may be among them
        ranks = self._rank[low:high]
        if len(ranks) > wanted:
            top = np.argpartition(-ranks, wanted - 1)[:wanted]
            chosen = top[np.argsort(-ranks[top])]
        else:
            chosen = np.argsort(-ranks)
        found = [self.phrases[low + int(i)] for i in chosen]
        return [phrase for phrase in found if phrase != key.rstrip()][:k]


def count_phrases(descriptions: Iterable[Sequence[str]]) -> PhraseIndex:
    """Count the completion phrases of tokenized descriptions (each counted once per
    description) and keep up to MAX_PHRASES of the most used; a phrase of
    LONG_PHRASE_WORDS or more words needs MIN_LONG_COUNT descriptions.

    Counted a length at a time: a run of words is extended by one only where it is used
    MIN_LONG_COUNT times (a longer run can't be used more often than its start), so the
    one-off wordings of long descriptions are never held (memory stays near the phrases
    kept).
    """
    docs = [list(words) for words in descriptions]
    starts = [  # (description, first word) of every phrase still growing
        (d, i)
        for d, words in enumerate(docs)
        for i, word in enumerate(words)
        if word not in STOP_WORDS or word in OPENING_WORDS
    ]
    kept: dict[str, int] = {}
    for length in range(1, MAX_PHRASE_WORDS + 1):
        runs = [(d, i, " ".join(docs[d][i : i + length])) for d, i in starts]
        used = Counter(phrase for _, phrase in {(d, phrase) for d, _, phrase in runs})
        long = length >= LONG_PHRASE_WORDS
        for phrase, n in used.items():
            ends_well = phrase.rsplit(" ", 1)[-1] not in STOP_WORDS
            if ends_well and (n >= MIN_LONG_COUNT or not long) and len(phrase) <= MAX_PHRASE_CHARS:
                kept[phrase] = n
        grows = length + 1 < LONG_PHRASE_WORDS
        starts = [
            (d, i)
            for d, i, phrase in runs
            if i + length < len(docs[d]) and (grows or used[phrase] >= MIN_LONG_COUNT)
        ]
    if len(kept) > MAX_PHRASES:
        kept = dict(sorted(kept.items(), key=lambda item: (-item[1], item[0]))[:MAX_PHRASES])
    return PhraseIndex(list(kept), np.array(list(kept.values()), dtype=np.int64))
