"""Scaled dot-product self-attention over a sentence's contextual word vectors.

For one sentence with word vectors X (n words x d dimensions), Q = K = V = X:

    scores  S = Q K^T / sqrt(d)
    weights A_ij = exp(S_ij) / sum_k exp(S_ik)        (softmax over each row; rows sum to 1)
    context C = A V

Word pieces are averaged into one vector per word before attention, and [CLS]/[SEP] are
dropped, so the matrix is word x word.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

from exercises.encoder import (
    BUNDLED_MODEL_NAME,
    TokenEncoding,
    encode_head_attention,
    encode_tokens,
    resolve_layer_and_head,
)
from exercises.errors import FocusWordError, OptionError

if TYPE_CHECKING:
    from exercises.encoder import SentenceTransformer

DEFAULT_SENTENCES = (
    "She saw a bat flying in the night sky",
    "He used a bat to hit the baseball during the game",
)
DEFAULT_FOCUS_WORD = "bat"
DEFAULT_TOP_K = 5
DEFAULT_HEAD = 0
CLS_LABEL = "[CLS]"
SEP_LABEL = "[SEP]"


@dataclass(frozen=True)
class WordWeight:
    """How much the focus word attends to one word (0-based position in the sentence)."""

    word: str
    position: int
    weight: float


@dataclass(frozen=True)
class HeadView:
    """One of the model's own attention heads, merged to words; [CLS] and [SEP] are kept."""

    layer: int
    head: int
    labels: tuple[str, ...]
    weights: tuple[tuple[float, ...], ...]
    focus_position: int


@dataclass(frozen=True)
class SentenceAttention:
    """Attention for one sentence: words, word x word weights, and the focus word's view."""

    sentence: str
    tokens: tuple[str, ...]
    words: tuple[str, ...]
    word_pieces: tuple[tuple[str, ...], ...]
    focus_position: int
    weights: tuple[tuple[float, ...], ...]
    self_weight: float
    top_words: tuple[WordWeight, ...]
    focus_vector: tuple[float, ...]
    cosine_to_word_alone: float
    head_view: HeadView | None


@dataclass(frozen=True)
class FocusCosine:
    """Cosine similarity between the focus word's vectors in two sentences (1-based numbers)."""

    first: int
    second: int
    cosine: float


@dataclass(frozen=True)
class AttentionReport:
    """The whole exercise: every sentence's attention and the focus word's cosines."""

    model_name: str
    focus_word: str
    word_alone_pieces: tuple[str, ...]
    sentences: tuple[SentenceAttention, ...]
    cosines: tuple[FocusCosine, ...]


def compute_softmax(scores: np.ndarray) -> np.ndarray:
    """softmax(s)_j = exp(s_j - max_k s_k) / sum_k exp(s_k - max_k s_k), over the last axis."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    weights: np.ndarray = exponentials / exponentials.sum(axis=-1, keepdims=True)
    return weights


def compute_attention_scores(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """S = Q K^T / sqrt(d), d = the vectors' dimension."""
    scores: np.ndarray = queries @ keys.T / math.sqrt(queries.shape[-1])
    return scores


def compute_scaled_dot_product_attention(
    queries: np.ndarray, keys: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A = softmax(Q K^T / sqrt(d)) row by row, C = A V; returns (A, C)."""
    weights = compute_softmax(compute_attention_scores(queries, keys))
    return weights, weights @ values


def merge_word_vectors(vectors: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """v_word = (1/m) * sum of the word's m piece vectors; one row per word."""
    return np.stack([vectors[list(group)].mean(axis=0) for group in groups])


def merge_head_attention(attention: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """A'_uv = (1/|u|) * sum_{i in u} sum_{j in v} A_ij: average piece rows, sum piece columns.

    Rows still sum to 1 when the groups cover every token.
    """
    row_means = np.stack([attention[list(group)].mean(axis=0) for group in groups])
    return np.stack([row_means[:, list(group)].sum(axis=1) for group in groups], axis=1)


def compute_cosine(first: np.ndarray, second: np.ndarray) -> float:
    """cos(a, b) = a.b / (|a| * |b|)."""
    return float(first @ second / (np.linalg.norm(first) * np.linalg.norm(second)))


def check_focus_word(word: str) -> str:
    """Return the word stripped; raise FocusWordError if it is empty or holds spaces."""
    stripped = word.strip()
    if not stripped or len(stripped.split()) != 1:
        raise FocusWordError(f"the focus word must be one word, got {word!r}")
    return stripped


def find_focus_position(words: Sequence[str], word: str, sentence_number: int) -> int:
    """Return the first word equal to `word` ignoring case; raise FocusWordError if none is."""
    target = word.casefold()
    for position, candidate in enumerate(words):
        if candidate.casefold() == target:
            return position
    raise FocusWordError(
        f'focus word "{word}" is not in sentence {sentence_number} '
        f"(its words: {', '.join(words) or 'none'}); pick a word from each sentence with --word"
    )


def rank_attended_words(
    weights_row: np.ndarray, words: Sequence[str], focus_position: int, top_k: int
) -> tuple[WordWeight, ...]:
    """The top_k largest weights A_fj over words j != f (ties keep sentence order)."""
    order = sorted(
        (j for j in range(len(words)) if j != focus_position),
        key=lambda j: (-weights_row[j], j),
    )
    return tuple(WordWeight(words[j], j, float(weights_row[j])) for j in order[:top_k])


def encode_word_alone(model: SentenceTransformer, word: str) -> tuple[tuple[str, ...], np.ndarray]:
    """The word encoded as a one-word input: its piece vectors averaged, [CLS]/[SEP] dropped."""
    encoding = encode_tokens(model, word)
    if len(encoding.word_token_indices) != 1:
        raise FocusWordError(
            f"the tokenizer splits {word!r} into several words ({', '.join(encoding.words)}); "
            "pick a single word"
        )
    group = encoding.word_token_indices[0]
    pieces = tuple(encoding.tokens[i] for i in group)
    return pieces, merge_word_vectors(encoding.vectors, [group])[0]


def to_nested_tuple(matrix: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Turn a 2-D array into a tuple of rows of Python floats."""
    return tuple(tuple(float(value) for value in row) for row in matrix)


def view_head_attention(
    model: SentenceTransformer, encoding: TokenEncoding, focus_position: int, layer: int, head: int
) -> HeadView:
    """The model's own head, word pieces merged; [CLS] and [SEP] kept as their own rows."""
    attention = encode_head_attention(model, encoding.sentence, layer, head)
    groups: list[tuple[int, ...]] = []
    labels: list[str] = []
    focus_group = encoding.word_token_indices[focus_position]
    word_groups = iter(zip(encoding.word_token_indices, encoding.words, strict=True))
    for position, word_id in enumerate(encoding.word_ids):
        if word_id is None:
            groups.append((position,))
            labels.append(encoding.tokens[position])
        elif encoding.word_ids.index(word_id) == position:
            group, word = next(word_groups)
            groups.append(group)
            labels.append(word)
    return HeadView(
        layer=layer,
        head=head,
        labels=tuple(labels),
        weights=to_nested_tuple(merge_head_attention(attention, groups)),
        focus_position=groups.index(focus_group),
    )


def analyze_sentence(
    model: SentenceTransformer,
    sentence: str,
    word: str,
    word_alone_vector: np.ndarray,
    sentence_number: int = 1,
    top_k: int = DEFAULT_TOP_K,
    layer_and_head: tuple[int, int] | None = None,
) -> SentenceAttention:
    """Self-attention A = softmax(X X^T / sqrt(d)) over the sentence's word vectors X."""
    encoding = encode_tokens(model, sentence)
    focus_position = find_focus_position(encoding.words, word, sentence_number)
    word_vectors = merge_word_vectors(encoding.vectors, encoding.word_token_indices)
    weights, _ = compute_scaled_dot_product_attention(word_vectors, word_vectors, word_vectors)
    focus_vector = word_vectors[focus_position]
    return SentenceAttention(
        sentence=sentence,
        tokens=encoding.tokens,
        words=encoding.words,
        word_pieces=tuple(
            tuple(encoding.tokens[i] for i in group) for group in encoding.word_token_indices
        ),
        focus_position=focus_position,
        weights=to_nested_tuple(weights),
        self_weight=float(weights[focus_position, focus_position]),
        top_words=rank_attended_words(
            weights[focus_position], encoding.words, focus_position, top_k
        ),
        focus_vector=tuple(float(value) for value in focus_vector),
        cosine_to_word_alone=compute_cosine(focus_vector, word_alone_vector),
        head_view=None
        if layer_and_head is None
        else view_head_attention(model, encoding, focus_position, *layer_and_head),
    )


def analyze_sentences(
    sentences: Sequence[str],
    word: str,
    model: SentenceTransformer,
    top_k: int = DEFAULT_TOP_K,
    layer: int | None = None,
    head: int = DEFAULT_HEAD,
    include_heads: bool = True,
    model_name: str = BUNDLED_MODEL_NAME,
) -> AttentionReport:
    """Attention per sentence, plus cos(focus_i, focus_j) for each pair and vs the word alone."""
    if not sentences:
        raise OptionError("give at least one sentence")
    for number, sentence in enumerate(sentences, start=1):
        if not sentence.strip():
            raise OptionError(f"sentence {number} is empty")
    if top_k < 1:
        raise OptionError(f"--top-k must be >= 1, got {top_k}")
    word = check_focus_word(word)
    layer_and_head = resolve_layer_and_head(model, layer, head) if include_heads else None
    pieces, alone_vector = encode_word_alone(model, word)
    analyses = tuple(
        analyze_sentence(model, sentence, word, alone_vector, number, top_k, layer_and_head)
        for number, sentence in enumerate(sentences, start=1)
    )
    cosines = tuple(
        FocusCosine(
            first=i + 1,
            second=j + 1,
            cosine=compute_cosine(
                np.array(analyses[i].focus_vector), np.array(analyses[j].focus_vector)
            ),
        )
        for i, j in combinations(range(len(analyses)), 2)
    )
    return AttentionReport(
        model_name=model_name,
        focus_word=word,
        word_alone_pieces=pieces,
        sentences=analyses,
        cosines=cosines,
    )
