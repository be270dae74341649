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


def save_hub_layout(tiny_clip: Path, directory: Path) -> Path:
    """Lay a tiny CLIP out as sentence-transformers/clip-ViT-B-32 is on the hub; return it.

    That repository predates tokenizer.json and sentence-transformers' Transformer module:
    modules.json names the legacy CLIPModel module in 0_CLIPModel/, which holds vocab.json +
    merges.txt and a preprocessor config with plain-int sizes.
    """
    import json
    import shutil

    module_dir = directory / "0_CLIPModel"
    module_dir.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_clip / name, module_dir / name)
    model = json.loads((tiny_clip / "tokenizer.json").read_text(encoding="utf-8"))["model"]
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model["merges"]]
    specials = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
    }
    files = {
        "vocab.json": json.dumps(model["vocab"]),
        "merges.txt": "#version: 0.2\n" + "\n".join(merges) + "\n",
        "special_tokens_map.json": json.dumps(specials),
        "tokenizer_config.json": json.dumps(
            {**specials, "model_max_length": 77, "tokenizer_class": "CLIPTokenizer"}
        ),
        "preprocessor_config.json": json.dumps(
            {
                "crop_size": 32,
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
                "feature_extractor_type": "CLIPFeatureExtractor",
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "resample": 3,
                "size": 32,
            }
        ),
    }
    for name, text in files.items():
        (module_dir / name).write_text(text, encoding="utf-8")
    modules = [
        {
            "idx": 0,
            "name": "0",
            "path": "0_CLIPModel",
            "type": "sentence_transformers.models.CLIPModel",
        }
    ]
    (directory / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    return directory
