"""BM25: the lexical baseline eval compares search with (an in-memory Okapi BM25 index)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

BM25_K1 = 1.2  # term-frequency saturation (the usual Lucene/Elasticsearch default)
BM25_B = 0.75  # how much a long description is penalised
TOKEN_PATTERN = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Return the lower-cased word tokens of text; punctuation and apostrophes split words.

    "A man's dancing." and the TGIF-tokenized "a man 's dancing ." give the same tokens.
    """
    return TOKEN_PATTERN.findall(text.lower())


def bm25_idf(documents: int, document_frequency: int) -> float:
    """Return idf = ln(1 + (N - df + 0.5) / (df + 0.5)), which is never negative."""
    return math.log(1.0 + (documents - document_frequency + 0.5) / (document_frequency + 0.5))


class BM25Index:
    """Okapi BM25 over a fixed list of texts; documents are addressed by their position.

    score(q, d) = sum over distinct terms t of q in d of
        idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * len(d) / avg_len))
    Each term's contribution is precomputed per document, so a query costs one vector add
    per distinct query term.
    """

    def __init__(self, texts: Sequence[str], k1: float = BM25_K1, b: float = BM25_B) -> None:
        counts = [Counter(tokenize(text)) for text in texts]
        lengths = np.array([sum(c.values()) for c in counts], dtype=np.float64)
        self.size = len(texts)
        average = float(lengths.mean()) if self.size and lengths.sum() else 1.0
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for doc, counter in enumerate(counts):
            for term, tf in counter.items():
                docs, tfs = postings.setdefault(term, ([], []))
                docs.append(doc)
                tfs.append(tf)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (docs, tfs) in postings.items():
            doc_ids = np.array(docs, dtype=np.int64)
            freqs = np.array(tfs, dtype=np.float64)
            norm = k1 * (1.0 - b + b * lengths[doc_ids] / average)
            weight = bm25_idf(self.size, len(docs)) * freqs * (k1 + 1.0) / (freqs + norm)
            self._postings[term] = (doc_ids, weight.astype(np.float32))

    def scores(self, query: str) -> np.ndarray:
        """Return every document's BM25 score for query (0 where no term matches)."""
        out = np.zeros(self.size, dtype=np.float32)
        for term in sorted(set(tokenize(query))):  # one float32 summation order per query
            posting = self._postings.get(term)
            if posting is not None:
                out[posting[0]] += posting[1]  # a term lists each document once
        return out

    def top(self, query: str, k: int, exclude: int | None = None) -> list[tuple[int, float]]:
        """Return up to k (document, score) pairs with a score above 0, best first.

        Ties keep document order, so results are deterministic.
        """
        scores = self.scores(query)
        if exclude is not None:
            scores[exclude] = 0.0
        matched = np.flatnonzero(scores > 0)
        if matched.size > k:
            cut = np.argpartition(-scores[matched], k - 1)[:k]
            matched = np.sort(matched[cut])
        order = matched[np.argsort(-scores[matched], kind="stable")]
        return [(int(doc), float(scores[doc])) for doc in order]
