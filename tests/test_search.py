"""search(): ranked, grouped results with cosine scores, through the real model and store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.job import IngestOptions, run_ingest
from search_app.embedder import Embedder
from search_app.errors import (
    CollectionNotFoundError,
    ConfigError,
    EmptyQueryError,
    ModelMismatchError,
)
from search_app.records import StoredRow
from search_app.search import SearchEngine, rescore_by_all_descriptions
from search_app.settings import Settings
from search_app.store import GifStore, ModelBinding
from tests.conftest import BACKENDS, SAMPLE_LINES, backend_settings, write_tsv

Loader = Callable[[str, Settings], Embedder]

ROWS = [
    "https://x.test/dogs.gif\ttwo dogs are playing with a ball in the park .\n",
    "https://x.test/dogs.gif\ta puppy chases another puppy across the grass .\n",
    "https://x.test/dogs.gif\tdogs run after a red ball .\n",
    "https://x.test/cook.gif\ta chef is chopping onions in a kitchen .\n",
    "https://x.test/dance.gif\ta woman is dancing on a stage .\n",
    "https://x.test/dance.gif\ta girl dances under bright lights .\n",
    "https://x.test/car.gif\ta red car drifts around a corner .\n",
]


@pytest.fixture(scope="module", params=BACKENDS)
def indexed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, cached_loader: Loader
) -> Settings:
    """An index holding ROWS plus 300 real sample rows, built once per backend."""
    root = tmp_path_factory.mktemp("search")
    base = Settings(store_dir=root / "store", cache_dir=root / "cache", model="minilm")
    settings = backend_settings(request, base)
    path = write_tsv(root / "gifs.tsv", ROWS + SAMPLE_LINES[:300])
    run_ingest(IngestOptions(source=str(path)), settings, loader=cached_loader)
    return settings


@pytest.fixture
def engine(indexed: Settings, cached_loader: Loader) -> SearchEngine:
    return SearchEngine.open(indexed, loader=cached_loader)


def test_results_are_grouped_by_gif_with_other_descriptions(engine: SearchEngine) -> None:
    hits = engine.search("dogs playing with a ball", k=5)
    assert hits[0].url == "https://x.test/dogs.gif"
    assert hits[0].description == "two dogs are playing with a ball in the park ."
    assert set(hits[0].other_descriptions) == {
        "a puppy chases another puppy across the grass .",
        "dogs run after a red ball .",
    }
    assert len({h.gif_id for h in hits}) == len(hits) == 5
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_score_averages_the_best_and_the_mean_cosine_of_the_gifs_descriptions(
    engine: SearchEngine, minilm: Embedder
) -> None:
    hit = engine.search("a woman dancing", k=1)[0]
    assert hit.url == "https://x.test/dance.gif"
    dance = ["a woman is dancing on a stage .", "a girl dances under bright lights ."]
    query, *own = minilm.embed_texts(["a woman dancing", *dance])
    cosines = [float(np.dot(query, vector)) for vector in own]
    assert hit.description == dance[int(np.argmax(cosines))]
    assert hit.score == pytest.approx((max(cosines) + np.mean(cosines)) / 2, abs=1e-3)
    assert hit.description_score == hit.score and hit.score_kind == "cosine"


def test_a_gif_with_one_description_scores_its_plain_cosine(
    engine: SearchEngine, minilm: Embedder
) -> None:
    hit = engine.search("a red car drifting", k=1)[0]
    assert hit.url == "https://x.test/car.gif" and hit.other_descriptions == ()
    query, own = minilm.embed_texts(["a red car drifting", hit.description])
    assert hit.score == pytest.approx(float(np.dot(query, own)), abs=1e-3)


def test_every_hit_is_scored_by_all_its_descriptions(
    engine: SearchEngine, minilm: Embedder
) -> None:
    hits = engine.search("dogs chasing a ball", k=10)
    query = minilm.embed_query("dogs chasing a ball")
    for hit in hits:
        texts = [hit.description, *hit.other_descriptions]
        cosines = minilm.embed_texts(texts) @ query
        assert hit.score == pytest.approx((cosines.max() + cosines.mean()) / 2, abs=2e-3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def unit(angle_deg: float) -> np.ndarray:
    """A 2-d unit vector whose cosine with (1, 0) is cos(angle)."""
    angle = np.deg2rad(angle_deg)
    return np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)


def test_rescoring_prefers_a_gif_all_of_whose_descriptions_match() -> None:
    query = np.array([1.0, 0.0], dtype=np.float32)
    lucky = [unit(20), unit(85)]  # one close description, one unrelated
    steady = [unit(30), unit(32)]  # two fairly close ones
    rows = [
        StoredRow(f"{gif}-{n}", gif, f"https://x.test/{gif}.gif", "", "src")
        for gif, vectors in (("lucky", lucky), ("steady", steady))
        for n in range(len(vectors))
    ]
    matrix = np.stack(lucky + steady)
    candidates = [  # nearest description of each GIF, nearest first, as Chroma gives them
        replace(rows[0], distance=1 - float(lucky[0] @ query)),
        replace(rows[2], distance=1 - float(steady[0] @ query)),
    ]
    ranked = rescore_by_all_descriptions(candidates, rows, matrix, query)
    assert [row.gif_id for row in ranked] == ["steady", "lucky"]
    cos = np.cos(np.deg2rad([20, 85, 30, 32]))
    expected = [(cos[2] + cos[2:].mean()) / 2, (cos[0] + cos[:2].mean()) / 2]
    assert [1 - row.distance for row in ranked] == pytest.approx(expected, abs=1e-6)
    assert [row.row_id for row in ranked] == ["steady-0", "lucky-0"]  # their nearest rows


def test_an_empty_collection_and_a_lone_gif_give_no_hits(
    tmp_path: Path, cached_loader: Loader, minilm: Embedder
) -> None:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "c", model="minilm")
    store = GifStore.open(settings)
    store.ensure_collection(ModelBinding(minilm.name, minilm.spec.ref, minilm.dimension))
    engine = SearchEngine.open(settings, loader=cached_loader)
    assert engine.search("a dog", k=5) == []
    path = write_tsv(tmp_path / "one.tsv", ["https://x.test/1.gif\ta dog runs\n"])
    run_ingest(IngestOptions(source=str(path)), settings, loader=cached_loader)
    only = engine.search("a dog", k=5)
    assert [hit.url for hit in only] == ["https://x.test/1.gif"]
    assert engine.similar(only[0].gif_id, k=5) == []  # nothing left once it is left out


def test_k_larger_than_the_first_fetch_still_returns_k_gifs(engine: SearchEngine) -> None:
    hits = engine.search("a person", k=60)
    assert len(hits) == len({h.gif_id for h in hits}) == 60


def test_more_like_this_excludes_the_gif_itself(engine: SearchEngine) -> None:
    dogs = engine.search("dogs playing", k=1)[0]
    similar = engine.similar(dogs.gif_id, k=5)
    assert dogs.gif_id not in {h.gif_id for h in similar}
    assert len(similar) == 5


@pytest.mark.parametrize("query", ["", "   ", "\t\n"], ids=["empty", "spaces", "whitespace"])
def test_empty_query_is_a_clear_error(engine: SearchEngine, query: str) -> None:
    with pytest.raises(EmptyQueryError, match="query is empty"):
        engine.search(query, k=3)


@pytest.mark.parametrize("k", [0, -1, 101], ids=["zero", "negative", "too-many"])
def test_k_out_of_range_is_refused_quoting_it(engine: SearchEngine, k: int) -> None:
    with pytest.raises(ConfigError, match=f"k={k}"):
        engine.search("a dog", k=k)


def test_missing_collection_says_how_to_fill_it(indexed: Settings, cached_loader: Loader) -> None:
    missing = replace(indexed, collection=f"{indexed.collection}-missing")
    with pytest.raises(CollectionNotFoundError, match='run "gifsearch ingest" first'):
        SearchEngine.open(missing, loader=cached_loader)


def test_search_uses_the_collections_model_whatever_the_default(
    indexed: Settings, cached_loader: Loader, tiny_clip_dir: Path
) -> None:
    auto = SearchEngine.open(replace(indexed, model="auto"), loader=cached_loader)
    assert auto.embedder.name == "sentence-transformers/all-MiniLM-L6-v2"
    with pytest.raises(ModelMismatchError, match="all-MiniLM-L6-v2"):
        SearchEngine.open(replace(indexed, model=str(tiny_clip_dir)), loader=cached_loader)


def test_stats_count_gifs_and_descriptions(engine: SearchEngine) -> None:
    stats = engine.stats()
    assert stats.descriptions == 307
    assert stats.gifs < stats.descriptions
    assert stats.model_name == "sentence-transformers/all-MiniLM-L6-v2"
