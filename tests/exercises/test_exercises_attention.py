"""The attention exercise through the real bundled MiniLM: math, words, cosines and PNGs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from exercises.attention import (
    analyze_sentences,
    compute_cosine,
    compute_scaled_dot_product_attention,
    merge_head_attention,
    merge_word_vectors,
)
from exercises.encoder import encode_tokens, find_transformer
from exercises.errors import FocusWordError, OptionError
from exercises.heatmap import plot_attention, plot_head_attention

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SPLIT_WORD = "unbelievably"  # MiniLM's tokenizer: un ##bel ##ie ##va ##bly
SPLIT_SENTENCES = ("The magician was unbelievably fast", "Unbelievably, it rained all week.")


def run_torch_attention(queries: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """torch.nn.functional.scaled_dot_product_attention in float64."""
    tensors = [torch.from_numpy(np.ascontiguousarray(m))[None] for m in (queries, keys, values)]
    return torch.nn.functional.scaled_dot_product_attention(*tensors)[0].numpy()


def test_attention_equals_torch_sdpa_on_real_word_vectors(minilm_model):
    encoding = encode_tokens(minilm_model, "He used a bat to hit the baseball during the game")
    vectors = merge_word_vectors(encoding.vectors, encoding.word_token_indices)
    weights, context = compute_scaled_dot_product_attention(vectors, vectors, vectors)
    np.testing.assert_allclose(context, run_torch_attention(vectors, vectors, vectors), atol=1e-6)
    # With V = I the attention output is the weight matrix itself.
    identity = np.eye(len(vectors))
    np.testing.assert_allclose(weights, run_torch_attention(vectors, vectors, identity), atol=1e-6)


def test_attention_equals_torch_sdpa_with_distinct_queries_keys_values():
    rng = np.random.default_rng(0)
    queries, keys = rng.normal(size=(4, 8)), rng.normal(size=(6, 8))
    values = rng.normal(size=(6, 3))
    _, context = compute_scaled_dot_product_attention(queries, keys, values)
    np.testing.assert_allclose(context, run_torch_attention(queries, keys, values), atol=1e-6)


def test_every_attention_row_sums_to_one(default_report):
    for sentence in default_report.sentences:
        assert len(sentence.weights) == len(sentence.words)
        for row in sentence.weights:
            assert len(row) == len(sentence.words)
            assert math.fsum(row) == pytest.approx(1.0, abs=1e-12)
        for row in sentence.head_view.weights:
            assert math.fsum(row) == pytest.approx(1.0, abs=1e-5)


def test_default_report_finds_bat_and_its_top_words(default_report):
    first, second = default_report.sentences
    assert first.words[first.focus_position] == "bat"
    assert second.words[second.focus_position] == "bat"
    assert "[CLS]" not in first.words and "[SEP]" not in first.words
    for sentence in default_report.sentences:
        weights = [item.weight for item in sentence.top_words]
        assert len(weights) == 5
        assert weights == sorted(weights, reverse=True)
        assert all(item.position != sentence.focus_position for item in sentence.top_words)
        row = sentence.weights[sentence.focus_position]
        assert all(row[item.position] == item.weight for item in sentence.top_words)
        assert sentence.self_weight == row[sentence.focus_position]
    assert second.top_words[0].word == "baseball"


def test_cosines_are_those_of_the_stored_vectors(default_report, minilm_model):
    first, second = default_report.sentences
    (pair,) = default_report.cosines
    assert (pair.first, pair.second) == (1, 2)
    expected = compute_cosine(np.array(first.focus_vector), np.array(second.focus_vector))
    assert pair.cosine == pytest.approx(expected, abs=1e-12)
    alone = encode_tokens(minilm_model, "bat").vectors[1]  # [CLS] bat [SEP]
    assert first.cosine_to_word_alone == pytest.approx(
        compute_cosine(np.array(first.focus_vector), alone), abs=1e-12
    )


def test_focus_vector_is_the_models_own_token_embedding(default_report, minilm_model):
    sentence = default_report.sentences[0]
    embeddings = minilm_model.encode(sentence.sentence, output_value="token_embeddings")
    token_position = sentence.tokens.index("bat")
    np.testing.assert_allclose(
        sentence.focus_vector, embeddings[token_position].double().numpy(), atol=1e-7
    )


def test_split_focus_word_is_merged_into_one_word(minilm_model):
    report = analyze_sentences(SPLIT_SENTENCES, SPLIT_WORD, minilm_model, layer=2, head=3)
    assert report.word_alone_pieces == ("un", "##bel", "##ie", "##va", "##bly")
    for sentence in report.sentences:
        focus = sentence.words[sentence.focus_position]
        assert focus.casefold() == SPLIT_WORD
        assert sentence.word_pieces[sentence.focus_position] == report.word_alone_pieces
        assert np.array(sentence.weights).shape == (len(sentence.words), len(sentence.words))
        assert np.array(sentence.weights).sum(axis=1) == pytest.approx(1.0)
        view = sentence.head_view
        assert (view.layer, view.head) == (2, 3)
        assert view.labels[0] == "[CLS]" and view.labels[-1] == "[SEP]"
        assert view.labels[view.focus_position] == focus
    assert report.sentences[1].words[:2] == ("Unbelievably", ",")


def test_focus_vector_of_split_word_is_the_mean_of_its_pieces(minilm_model):
    report = analyze_sentences(SPLIT_SENTENCES[:1], SPLIT_WORD, minilm_model, include_heads=False)
    sentence = report.sentences[0]
    encoding = encode_tokens(minilm_model, sentence.sentence)
    pieces = encoding.word_token_indices[sentence.focus_position]
    assert len(pieces) == 5
    np.testing.assert_allclose(sentence.focus_vector, encoding.vectors[list(pieces)].mean(axis=0))
    assert report.cosines == ()


def test_merge_head_attention_averages_piece_rows_and_sums_piece_columns():
    attention = np.array(
        [
            [0.5, 0.2, 0.3],
            [0.1, 0.6, 0.3],
            [0.4, 0.4, 0.2],
        ]
    )
    merged = merge_head_attention(attention, [(0,), (1, 2)])
    np.testing.assert_allclose(merged, [[0.5, 0.5], [0.25, 0.75]])


def test_head_view_leaves_the_shared_model_on_its_attention_kernel(minilm_model):
    transformer = find_transformer(minilm_model)
    before = transformer.config._attn_implementation
    analyze_sentences(["A bat flew"], "bat", minilm_model, layer=0, head=0)
    assert transformer.config._attn_implementation == before


def test_sentence_without_the_focus_word_raises_a_clear_error(minilm_model):
    with pytest.raises(FocusWordError) as info:
        analyze_sentences(["A bat flew", "The cat slept"], "bat", minilm_model)
    assert str(info.value) == (
        'focus word "bat" is not in sentence 2 (its words: The, cat, slept); '
        "pick a word from each sentence with --word"
    )


@pytest.mark.parametrize(
    ("word", "message"),
    [("night sky", "must be one word"), ("", "must be one word"), ("bat's", "into several words")],
    ids=["two-words", "empty", "punctuation"],
)
def test_focus_word_that_is_not_one_word_raises(minilm_model, word, message):
    with pytest.raises(FocusWordError, match=message):
        analyze_sentences(["A bat flew"], word, minilm_model, include_heads=False)


def test_layer_out_of_range_raises_config_error(minilm_model):
    with pytest.raises(OptionError, match=r"--layer must be in 0\.\.5 for this model, got 6"):
        analyze_sentences(["A bat flew"], "bat", minilm_model, layer=6)


def test_heatmaps_are_written_as_valid_pngs(default_report, tmp_path):
    sentence = default_report.sentences[0]
    paths = [
        plot_attention(sentence, tmp_path / "attention_1.png", 1),
        plot_head_attention(sentence, tmp_path / "heads" / "attention_heads_1.png", 1),
    ]
    for path in paths:
        assert path.stat().st_size > 0
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG"
            assert image.size[0] > 300 and image.size[1] > 300
