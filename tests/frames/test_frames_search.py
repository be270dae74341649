"""Combined ranking and image queries: description hits and frame hits, one card per GIF."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest.job import IngestOptions, run_ingest
from search_app.embedders.frames import open_image
from search_app.embedders.query_embedder import load_for_settings
from search_app.embedders.sbert import Embedder
from search_app.errors import ImagesUnsupportedError
from search_app.records import RowKind
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.ranking import SOFT_BEST_CAP, SOFT_BEST_TEMPERATURE
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from tests.conftest import BACKENDS, backend_settings, write_tsv
from tests.frames.conftest import SET_OF_GIFS, gif_route, tiny_clip_settings, write_gif_folder
from tests.local_http import serve_handlers


def png_of_first_frame(data: bytes) -> Image.Image:
    buffer = io.BytesIO()
    open_image(data).convert("RGB").save(buffer, "PNG")
    return Image.open(io.BytesIO(buffer.getvalue()))


@pytest.fixture(scope="module", params=BACKENDS)
def mixed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path
) -> SearchEngine:
    """A collection with described GIFs (served, with frames) and a folder of frame-only GIFs,
    built once per backend (its tests only read it)."""
    root = tmp_path_factory.mktemp("mixed")
    clip_settings = backend_settings(request, tiny_clip_settings(root, tiny_clip_dir))
    gif_folder = write_gif_folder(root / "gifs")
    served = {
        "/dancer.gif": SET_OF_GIFS["red-circle.gif"],
        "/dogs.gif": SET_OF_GIFS["two-scenes.gif"],
    }
    with serve_handlers({path: gif_route(data) for path, data in served.items()}) as (base, _):
        lines = [
            f"{base}/dancer.gif\ta man is dancing on the stage\n",
            f"{base}/dancer.gif\ta guy dancing\n",
            f"{base}/dogs.gif\ttwo dogs are playing with a ball\n",
            "https://x.test/cat.gif\ta cat is sleeping in the car\n",  # unreachable: no frames
        ]
        source = write_tsv(root / "gifs.tsv", lines)
        run_ingest(IngestOptions(source=str(source), frames=True), clip_settings)
    run_ingest(IngestOptions(source=str(gif_folder)), clip_settings)
    return SearchEngine.open(replace(clip_settings, model="auto"), load_for_settings)


def test_text_search_gives_one_hit_per_gif_from_both_kinds(mixed: SearchEngine) -> None:
    hits = mixed.search(SearchRequest("a man is dancing on the stage", k=20))
    ids = [h.gif_id for h in hits]
    assert len(ids) == len(set(ids)) == 3 + 4  # served GIFs and the cat, plus the folder's
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    by_name = {Path(h.url).name: h for h in hits}
    dancer = by_name["dancer.gif"]
    assert dancer.matched == ("description", "frame")
    assert dancer.description == "a man is dancing on the stage"
    # its description side: soft-best of its two descriptions' cosines (1.0 and other)
    query, other = mixed.embedder.embed_texts(["a man is dancing on the stage", "a guy dancing"])
    cosines = np.array([1.0, float(query @ other)])
    soft = SOFT_BEST_TEMPERATURE * np.log(np.exp(cosines / SOFT_BEST_TEMPERATURE).sum())
    assert dancer.description_score == pytest.approx(min(soft, 1.0 + SOFT_BEST_CAP), abs=1e-4)
    assert dancer.other_descriptions == ("a guy dancing",)
    assert dancer.frame_index is not None and dancer.score_kind == "rank_fusion"
    assert by_name["cat.gif"].matched == ("description",)
    folder_hits = [by_name[name] for name in SET_OF_GIFS]
    assert all(h.matched == ("frame",) and h.description == "" for h in folder_hits)
    assert all(0 < h.score <= 1 for h in hits)
    data = dancer.to_dict()
    assert data["matched"] == ["description", "frame"] and data["score_kind"] == "rank_fusion"


def test_an_image_query_finds_the_gif_it_came_from(mixed: SearchEngine) -> None:
    query = png_of_first_frame(SET_OF_GIFS["blue-square.gif"])
    hits = mixed.search(SearchRequest(image=query, k=3))
    assert Path(hits[0].url).name == "blue-square.gif"
    assert hits[0].frame_score == pytest.approx(hits[0].score, abs=1e-6)
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert all(h.matched == ("frame",) for h in hits)  # frames there: image to image only
    animated = open_image(SET_OF_GIFS["green-triangle.gif"])
    assert (
        Path(mixed.search(SearchRequest(image=animated, k=1))[0].url).name == "green-triangle.gif"
    )


def test_more_like_a_frame_only_gif_excludes_it(mixed: SearchEngine) -> None:
    source = next(
        h for h in mixed.search(SearchRequest("a dog", k=20)) if h.url.endswith("blue-square.gif")
    )
    similar = mixed.search(SearchRequest(like=source.gif_id, k=5))
    assert source.gif_id not in {h.gif_id for h in similar} and len(similar) == 5


def test_stats_count_frames_apart_from_descriptions(mixed: SearchEngine) -> None:
    stats = mixed.stats()
    assert (stats.gifs, stats.descriptions) == (7, 4)
    assert stats.frames == mixed.store.count_kind(RowKind.FRAME) > 0


def test_a_text_only_collection_refuses_image_queries_before_loading(
    tmp_path: Path, cached_loader: Callable[[str, Settings], Embedder]
) -> None:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "c", model="minilm")
    rows = write_tsv(tmp_path / "rows.tsv", ["https://x.test/1.gif\ta dog runs\n"])
    run_ingest(IngestOptions(source=str(rows)), settings, loader=cached_loader)
    message = (
        'collection "gifs" uses sentence-transformers/all-MiniLM-L6-v2, which can\'t embed '
        "images; ingest with --model clip to search by image"
    )

    def must_not_load(model: str, settings: Settings) -> Embedder:
        raise AssertionError("no model should load")

    with pytest.raises(ImagesUnsupportedError) as caught:
        SearchEngine.open(settings, must_not_load, need_images=True)
    assert str(caught.value) == message
    engine = SearchEngine.open(settings, cached_loader)
    assert not engine.supports_images
    with pytest.raises(ImagesUnsupportedError, match="can't embed images"):
        engine.search(SearchRequest(image=Image.new("RGB", (8, 8)), k=1))
