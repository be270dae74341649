"""search(): ranked, grouped results with cosine scores, through the real model and store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.job import IngestOptions, run_ingest
from search_app.embedders.sbert import Embedder
from search_app.errors import (
    CollectionNotFoundError,
    ConfigError,
    EmptyQueryError,
    ModelMismatchError,
)
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.probe import EvalProbe, Scope
from search_app.retrieval.ranking import SOFT_BEST_CAP, SOFT_BEST_TEMPERATURE, Pooling, PoolingKind
from search_app.retrieval.request import MAX_K, SearchRequest
from search_app.settings import Settings
from search_app.store.binding import ModelBinding
from search_app.store.client import GifStore
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
    hits = engine.search(SearchRequest("dogs playing with a ball", k=5))
    assert hits[0].url == "https://x.test/dogs.gif"
    assert hits[0].description == "two dogs are playing with a ball in the park ."
    assert set(hits[0].other_descriptions) == {
        "a puppy chases another puppy across the grass .",
        "dogs run after a red ball .",
    }
    assert len({h.gif_id for h in hits}) == len(hits) == 5
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def soft_best(cosines: np.ndarray) -> float:
    """The documented score, computed here independently of search_app.retrieval.ranking."""
    best = float(np.max(cosines))
    soft = SOFT_BEST_TEMPERATURE * float(np.log(np.sum(np.exp(cosines / SOFT_BEST_TEMPERATURE))))
    return min(best + SOFT_BEST_CAP, soft)


def test_score_is_the_best_cosine_plus_a_bounded_bonus_from_the_others(
    engine: SearchEngine, minilm: Embedder
) -> None:
    hit = engine.search(SearchRequest("a woman dancing", k=1))[0]
    assert hit.url == "https://x.test/dance.gif"
    dance = ["a woman is dancing on a stage .", "a girl dances under bright lights ."]
    query, *own = minilm.embed_texts(["a woman dancing", *dance])
    cosines = np.array([float(np.dot(query, vector)) for vector in own])
    assert hit.description == dance[int(np.argmax(cosines))]
    assert hit.score == pytest.approx(soft_best(cosines), abs=1e-3)
    assert cosines.max() - 1e-3 <= hit.score <= cosines.max() + SOFT_BEST_CAP + 1e-3
    assert hit.description_score == hit.score and hit.score_kind == "cosine"


def test_a_gif_with_one_description_scores_its_plain_cosine(
    engine: SearchEngine, minilm: Embedder
) -> None:
    hit = engine.search(SearchRequest("a red car drifting", k=1))[0]
    assert hit.url == "https://x.test/car.gif" and hit.other_descriptions == ()
    query, own = minilm.embed_texts(["a red car drifting", hit.description])
    assert hit.score == pytest.approx(float(np.dot(query, own)), abs=1e-3)


def test_every_hit_is_scored_by_its_descriptions_as_documented(
    engine: SearchEngine, minilm: Embedder
) -> None:
    hits = engine.search(SearchRequest("dogs chasing a ball", k=10))
    query = minilm.embed_query("dogs chasing a ball")
    for hit in hits:
        texts = [hit.description, *hit.other_descriptions]
        cosines = minilm.embed_texts(texts) @ query
        assert hit.score == pytest.approx(soft_best(cosines), abs=2e-3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_well_described_gif_is_not_pulled_below_a_one_description_gif(
    tmp_path: Path, cached_loader: Loader
) -> None:
    """The old (best + mean) / 2 ranked a GIF described in many ways below a GIF with one
    matching description; soft-best ranks it by its best match and never lower."""
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "c", model="minilm")
    many = [
        "a dog catches a frisbee in the park .",
        "the sky is blue and there are clouds .",
        "someone is holding a camera .",
        "a man in a red shirt waves .",
    ]
    lines = [f"https://x.test/many.gif\t{text}\n" for text in many]
    lines.append("https://x.test/one.gif\ta dog jumps to catch a disc .\n")
    run_ingest(
        IngestOptions(source=str(write_tsv(tmp_path / "g.tsv", lines))),
        settings,
        loader=cached_loader,
    )
    engine = SearchEngine.open(settings, loader=cached_loader)
    hits = {hit.url: hit for hit in engine.search(SearchRequest("a dog catches a frisbee", k=2))}
    vector = engine.embedder.embed_query("a dog catches a frisbee")
    candidates = EvalProbe(engine).candidates(vector, 2, scope=Scope.ALL_DESCRIPTIONS)
    old = candidates.rank(Pooling(PoolingKind.MAX_MEAN))
    assert [g.row.url for g in old][0] == "https://x.test/one.gif"  # the penalty it had
    assert hits["https://x.test/many.gif"].score > hits["https://x.test/one.gif"].score


def test_an_empty_collection_and_a_lone_gif_give_no_hits(
    tmp_path: Path, cached_loader: Loader, minilm: Embedder
) -> None:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "c", model="minilm")
    store = GifStore(settings, create=True)
    store.ensure_collection(ModelBinding(minilm.name, minilm.spec.ref, minilm.dimension))
    engine = SearchEngine.open(settings, loader=cached_loader)
    assert engine.search(SearchRequest("a dog", k=5)) == []
    path = write_tsv(tmp_path / "one.tsv", ["https://x.test/1.gif\ta dog runs\n"])
    run_ingest(IngestOptions(source=str(path)), settings, loader=cached_loader)
    only = engine.search(SearchRequest("a dog", k=5))
    assert [hit.url for hit in only] == ["https://x.test/1.gif"]
    assert (
        engine.search(SearchRequest(like=only[0].gif_id, k=5)) == []
    )  # nothing left once it is left out


def test_k_larger_than_the_first_fetch_still_returns_k_gifs(engine: SearchEngine) -> None:
    hits = engine.search(SearchRequest("a person", k=MAX_K))
    assert len(hits) == len({h.gif_id for h in hits}) == MAX_K


def test_more_like_this_excludes_the_gif_itself(engine: SearchEngine) -> None:
    dogs = engine.search(SearchRequest("dogs playing", k=1))[0]
    similar = engine.search(SearchRequest(like=dogs.gif_id, k=5))
    assert dogs.gif_id not in {h.gif_id for h in similar}
    assert len(similar) == 5


@pytest.mark.parametrize("query", ["", "   ", "\t\n"], ids=["empty", "spaces", "whitespace"])
def test_empty_query_is_a_clear_error(engine: SearchEngine, query: str) -> None:
    with pytest.raises(EmptyQueryError, match="query is empty"):
        engine.search(SearchRequest(query, k=3))


@pytest.mark.parametrize("k", [0, -1, MAX_K + 1], ids=["zero", "negative", "too-many"])
def test_k_out_of_range_is_refused_quoting_it(k: int) -> None:
    with pytest.raises(ConfigError, match=f"k {k} is out of range: use 1 to {MAX_K}"):
        SearchRequest("a dog", k=k)


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


def test_a_long_lived_engine_shows_new_descriptions_of_a_grown_gif(
    settings: Settings, tmp_path: Path, cached_loader: Loader
) -> None:
    """A long-lived engine keeps a catalog of an embedded store's rows by GIF, and a
    write to the store drops it; on a server, whose writes it can't see, the catalog only
    counts GIFs. Either way a GIF's new description shows at once."""
    first = write_tsv(tmp_path / "a.tsv", ROWS)
    run_ingest(IngestOptions(source=str(first)), settings, loader=cached_loader)
    engine = SearchEngine.open(settings, loader=cached_loader)
    engine.stats()  # waits for the catalog
    hits = engine.search(SearchRequest("a woman dancing on a stage", k=1))
    assert len(hits[0].other_descriptions) == 1
    assert engine.stats().gifs == 4
    grown = write_tsv(tmp_path / "b.tsv", ["https://x.test/dance.gif\tshe spins and spins .\n"])
    run_ingest(IngestOptions(source=str(grown)), settings, loader=cached_loader)
    hit = engine.search(SearchRequest("a woman dancing on a stage", k=1))[0]
    assert "she spins and spins ." in hit.other_descriptions
    fresh = SearchEngine.open(settings, loader=cached_loader).search(
        SearchRequest("a woman dancing", k=3)
    )
    assert [h.to_dict() for h in engine.search(SearchRequest("a woman dancing", k=3))] == [
        h.to_dict() for h in fresh
    ]
