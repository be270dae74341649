"""How much should an image weigh in a text + image query? A sweep on generated GIFs.

There are no real CLIP weights on this machine, so this measures the mechanics with the
tests' tiny CLIP (random weights) on generated GIFs, where the right answer is known by
construction. For each of N scenarios, three GIFs with frames are ingested: "both" (a
description D and frames of scene S), "text" (the same D, frames of another scene) and
"image" (another description, frames of the same S). The query is D with a frame of S.
For each --image-weight w it reports how often "both" comes first, and how often it
ranks above both the others, over all scenarios together in one collection (so the
other scenarios' GIFs are distractors too). A text query also searches the frames, where
the random model's text-to-image cosines are noise, so "both" doesn't always win here;
search's default (0.5) is where it won most often (docs/results.md).

Usage: python benchmarks/combination_sweep.py [--scenarios 16]
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from PIL import Image  # noqa: E402

from ingest.job import IngestOptions, run_ingest  # noqa: E402
from search_app.embedders.frames import open_image  # noqa: E402
from search_app.embedders.query_embedder import load_for_settings  # noqa: E402
from search_app.retrieval.engine import SearchEngine  # noqa: E402
from search_app.retrieval.request import SearchRequest  # noqa: E402
from search_app.settings import Settings  # noqa: E402
from tests.frames.conftest import COLOURS, SHAPES, one_scene_gif  # noqa: E402
from tests.local_http import body_route, serve_handlers  # noqa: E402
from tests.tiny_clip import WORDS, build_tiny_clip  # noqa: E402

WEIGHTS = [round(0.1 * step, 1) for step in range(11)]
SUBJECTS = ["a man", "a woman", "a girl", "a boy", "two people", "a dog", "a cat", "a guy"]
ACTIONS = ["is playing", "is dancing", "is running", "is jumping", "is eating", "is sleeping"]


def scenes() -> list[tuple[str, str, str]]:
    """Distinct (background, shape, colour) scenes."""
    colours = sorted(COLOURS)
    return [
        (bg, shape, fg)
        for bg, fg in itertools.permutations(colours, 2)
        for shape in SHAPES
        if bg != fg
    ]


def description(number: int) -> str:
    """A description of tiny-CLIP words, different for each number."""
    subject = SUBJECTS[number % len(SUBJECTS)]
    action = ACTIONS[(number // len(SUBJECTS)) % len(ACTIONS)]
    place = ["on the stage", "in the car", "with a red ball", "with a blue ball"][number % 4]
    text = f"{subject} {action} {place}"
    assert all(word in WORDS for word in text.split())
    return text


def png_of(data: bytes) -> Image.Image:
    buffer = io.BytesIO()
    open_image(data).convert("RGB").save(buffer, "PNG")
    return Image.open(io.BytesIO(buffer.getvalue()))


def main(argv: list[str]) -> int:
    """Build the collection, sweep the weight, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=16)
    args = parser.parse_args(argv)
    pool = scenes()
    with tempfile.TemporaryDirectory(prefix="gifsearch-combine-") as scratch:
        root = Path(scratch)
        model = build_tiny_clip(root / "clip")
        settings = Settings(
            store_dir=root / "store", cache_dir=root / "cache", model=str(model),
            device="cpu", precision="fp32",
        )  # fmt: skip
        gifs, lines, queries = {}, [], []
        for number in range(args.scenarios):
            scene, other = pool[2 * number], pool[2 * number + 1]
            gifs[f"/both-{number}.gif"] = one_scene_gif(*scene)
            gifs[f"/text-{number}.gif"] = one_scene_gif(*other)
            gifs[f"/image-{number}.gif"] = one_scene_gif(*scene)
            queries.append((number, description(number), png_of(one_scene_gif(*scene))))
        routes = {path: body_route(data, content_type="image/gif") for path, data in gifs.items()}
        with serve_handlers(routes) as (base, _):
            for number in range(args.scenarios):
                text, elsewhere = description(number), description(number + args.scenarios)
                lines += [
                    f"{base}/both-{number}.gif\t{text}\n",
                    f"{base}/text-{number}.gif\t{text}\n",
                    f"{base}/image-{number}.gif\t{elsewhere}\n",
                ]
            source = root / "rows.tsv"
            source.write_text("".join(lines))
            run_ingest(IngestOptions(source=str(source), frames=True, limit=None), settings)
        engine = SearchEngine.open(replace(settings, model="auto"), load_for_settings)
        print(f"{args.scenarios} scenarios, {len(gifs)} GIFs with frames (tiny CLIP, random)")
        print(f"{'image weight':>12} {'both first':>11} {'both above text and image':>26}")
        for weight in WEIGHTS:
            first = above = 0
            for number, text, image in queries:
                hits = engine.search(SearchRequest(text, k=20, image=image, image_weight=weight))
                names = [Path(h.url).name for h in hits]
                both = names.index(f"both-{number}.gif") if f"both-{number}.gif" in names else 99
                others = [
                    names.index(name) if name in names else 99
                    for name in (f"text-{number}.gif", f"image-{number}.gif")
                ]
                first += both == 0
                above += both < min(others)
            share = f"{first}/{len(queries)}"
            print(f"{weight:>12.1f} {share:>11} {f'{above}/{len(queries)}':>26}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
