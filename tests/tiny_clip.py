"""Build a tiny CLIP (random weights, its own tokenizer) that sentence-transformers loads.

It has the real CLIP architecture and loading path, only small: text and vision towers of
2 layers, 32 wide, 16-d shared space. Its vectors mean nothing, but texts that share
tokens land near each other, which is enough to test ingest, binding and search.
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "a the man woman girl boy dog dogs cat cats is are playing dancing running jumping "
    "on in with ball car red blue two people guy eating sleeping laughing stage"
).split()


def build_tiny_clip(directory: Path, seed: int = 0) -> Path:
    """Save a tiny CLIPModel + CLIPProcessor into directory and return it."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    torch.manual_seed(seed)
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in sorted(set("".join(WORDS))):
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    merges: dict[tuple[str, str], None] = {}
    for word in WORDS:
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            left, right = pieces[0], pieces[1]
            merges[(left, right)] = None
            vocab.setdefault(left + right, len(vocab))
            pieces = [left + right, *pieces[2:]]
    tokenizer = CLIPTokenizer(vocab=vocab, merges=list(merges), model_max_length=77)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
    )
    CLIPModel(config).save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
