"""What frames cost and which frame strategy to use, measured on generated GIFs.

    python benchmarks/frames_cost.py                # both parts
    python benchmarks/frames_cost.py --part strategy
    python benchmarks/frames_cost.py --part cost --gifs 24

Part "strategy": GIFs with 1 to 4 scenes of uneven length (a camera panning over a
textured background, a scene cut changing it); for "even" (first/middle/last) and
"diverse" (farthest-point), how many of each GIF's scenes the picked frames cover, how
many frames are picked, and the decode + pick time per GIF.

Part "cost": the per-GIF cost of --frames on this machine's CPU with the full-size CLIP
ViT-B/32 architecture (vision: 768 wide, 12 layers, 12 heads, MLP 3072, 224 px, patch 32;
text: 512 wide, 12 layers) with random weights (the same FLOPs as the real weights),
loaded through the real code (search_app.embedders.sbert.load_embedder), in fp32 and bf16:
decode + pick frames, then embed the picked frames in batches. Download time is not
included (it depends on the network; the job overlaps it with embedding).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from search_app.embedders.frames import (  # noqa: E402
    DEFAULT_FRAME_STRATEGY,
    DEFAULT_FRAMES_PER_GIF,
    FRAME_STRATEGIES,
    open_image,
    select_frames,
)

FRAME_SIZE = (360, 270)  # a typical TGIF GIF is ~300-500 px wide
PAN_PX = 3  # camera movement per frame


def scene_texture(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Return a smooth random texture twice as wide as a frame, in one colour family."""
    width, height = size[0] * 2, size[1]
    coarse = rng.random((height // 15 + 1, width // 15 + 1, 3)) * 0.5
    coarse += rng.random(3) * 0.5  # the scene's dominant colour
    small = Image.fromarray((coarse * 255).astype(np.uint8), "RGB")
    return small.resize((width, height), Image.Resampling.BICUBIC)


def make_scene_gif(lengths: Sequence[int], rng: np.random.Generator) -> bytes:
    """Return a GIF with one scene per length: a pan over a texture of its own."""
    frames = []
    for length in lengths:
        texture = scene_texture(rng, FRAME_SIZE)
        for step in range(length):
            left = step * PAN_PX
            frames.append(texture.crop((left, 0, left + FRAME_SIZE[0], FRAME_SIZE[1])))
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=60, loop=0)
    return buffer.getvalue()


def random_lengths(rng: random.Random) -> list[int]:
    """One to four scenes; long shots and short cutaways, 20 to 60 frames in all."""
    scenes = rng.choice([1, 2, 2, 3, 3, 4])
    lengths = [rng.randint(2, 30) for _ in range(scenes)]
    while sum(lengths) < 20:
        lengths[rng.randrange(scenes)] += 5
    return lengths


def covered(lengths: Sequence[int], indices: Sequence[int]) -> int:
    """Return how many scenes have a picked frame."""
    owner = [scene for scene, length in enumerate(lengths) for _ in range(length)]
    return len({owner[i] for i in indices if i < len(owner)})


def measure_strategies(count: int, seed: int) -> None:
    """Print scene coverage, frames picked and decode + pick time per strategy."""
    rng, np_rng = random.Random(seed), np.random.default_rng(seed)
    gifs = []
    for _ in range(count):
        lengths = random_lengths(rng)
        gifs.append((lengths, make_scene_gif(lengths, np_rng)))
    print(f"strategy: {count} GIFs of {FRAME_SIZE[0]}x{FRAME_SIZE[1]}, 1-4 scenes, "
          f"20-60+ frames; {DEFAULT_FRAMES_PER_GIF} frames asked for")  # fmt: skip
    print(f"{'strategy':10}{'scenes covered':>16}{'all covered':>13}{'frames':>8}{'ms/GIF':>9}")
    for strategy in FRAME_STRATEGIES:
        found = possible = complete = frames = 0
        times = []
        for lengths, data in gifs:
            started = time.perf_counter()
            picked = select_frames(open_image(data), strategy, DEFAULT_FRAMES_PER_GIF)
            times.append(time.perf_counter() - started)
            best = min(DEFAULT_FRAMES_PER_GIF, len(lengths))
            hit = covered(lengths, picked.indices)
            found, possible = found + hit, possible + best
            complete += hit == best
            frames += len(picked.indices)
        print(f"{strategy:10}{found / possible:>15.1%} {complete / count:>12.1%}"
              f"{frames / count:>8.2f}{statistics.median(times) * 1000:>9.1f}")  # fmt: skip
    multi = [g for g in gifs if len(g[0]) > 1]
    print(f"({len(multi)} of the GIFs have 2+ scenes; ms/GIF is the median decode + pick)")


def build_full_size_clip(directory: Path) -> Path:
    """Save a CLIP with ViT-B/32 sizes and random weights (a toy tokenizer) to directory."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    torch.manual_seed(0)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in "abcdefghijklmnopqrstuvwxyz":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    config = CLIPConfig(
        text_config={
            "vocab_size": 49_408,
            "hidden_size": 512,
            "intermediate_size": 2048,
            "num_hidden_layers": 12,
            "num_attention_heads": 8,
            "max_position_embeddings": 77,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "image_size": 224,
            "patch_size": 32,
        },
        projection_dim=512,
    )
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
        ),
        tokenizer=CLIPTokenizer(vocab=vocab, merges=[]),
    )
    CLIPModel(config).save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def measure_cost(count: int, seed: int, precisions: Sequence[str], rounds: int) -> None:
    """Print decode + pick and embed milliseconds per GIF with ViT-B/32 on the CPU.

    Other work on the machine skews single timings, so precisions take turns for several
    rounds; the median and the best round are printed.
    """
    import torch

    from search_app.embedders.sbert import IMAGE_BATCH_SIZE, cpu_supports_bf16, load_embedder

    rng, np_rng = random.Random(seed), np.random.default_rng(seed)
    gifs = [make_scene_gif(random_lengths(rng), np_rng) for _ in range(count)]
    print(f"\ncost: {count} GIFs, {os.cpu_count()} CPUs, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads, native bf16: {cpu_supports_bf16()}, "
          f"load average {os.getloadavg()[0]:.1f} at start; {rounds} rounds")  # fmt: skip
    picked: dict[str, list] = {}
    decode_ms: dict[str, float] = {}
    for strategy in FRAME_STRATEGIES:
        rounds_ms = []
        for _ in range(rounds):
            started = time.perf_counter()
            picked[strategy] = [
                select_frames(open_image(d), strategy, DEFAULT_FRAMES_PER_GIF) for d in gifs
            ]
            rounds_ms.append((time.perf_counter() - started) / count * 1000)
        decode_ms[strategy] = statistics.median(rounds_ms)
        print(f"decode + pick {strategy:8} median {decode_ms[strategy]:4.0f} ms per GIF "
              f"(best {min(rounds_ms):.0f})")  # fmt: skip
    images = [image for p in picked[DEFAULT_FRAME_STRATEGY] for image in p.images]
    with tempfile.TemporaryDirectory(prefix="clip-b32-") as folder:
        path = build_full_size_clip(Path(folder))
        embedders = {p: load_embedder(str(path), device="cpu", precision=p) for p in precisions}
        times: dict[str, list[float]] = {p: [] for p in precisions}
        for embedder in embedders.values():
            embedder.embed_images(images[:IMAGE_BATCH_SIZE])  # warm up
        for _ in range(rounds):
            for precision, embedder in embedders.items():
                started = time.perf_counter()
                embedder.embed_images(images, IMAGE_BATCH_SIZE)
                times[precision].append((time.perf_counter() - started) / len(images) * 1000)
    per_gif = len(images) / count
    for precision in precisions:
        frame_ms = statistics.median(times[precision])
        total = decode_ms[DEFAULT_FRAME_STRATEGY] + frame_ms * per_gif
        best = min(times[precision])
        print(
            f"embed {precision:5} median {frame_ms:4.0f} ms per frame (best {best:.0f}) "
            f"x {per_gif:.2f} frames = {frame_ms * per_gif:4.0f} ms; "
            f"with decode + pick ({DEFAULT_FRAME_STRATEGY}): {total:4.0f} ms per GIF"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("strategy", "cost", "both"), default="both")
    parser.add_argument("--strategy-gifs", type=int, default=200, help="GIFs for coverage (200)")
    parser.add_argument("--gifs", type=int, default=24, help="GIFs for the cost part (24)")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds (5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.part in ("strategy", "both"):
        measure_strategies(args.strategy_gifs, args.seed)
    if args.part in ("cost", "both"):
        measure_cost(args.gifs, args.seed, args.precision, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
