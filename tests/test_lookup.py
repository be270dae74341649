"""Looking GIFs up by id, the featured selection, and the size and link state that hits and
lookups carry: a real store (embedded and a `chroma run` server), the real MiniLM, real
sample rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ingest.job import IngestOptions, run_ingest
from search_app.records import LinkState, LinkStatus, ScoreKind
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.featured import diverse_order
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from search_app.store.client import GifStore
from tests.conftest import BACKENDS, SAMPLE_LINES, backend_settings, write_tsv

SIZED_URL = "https://x.test/sized.gif"
DEAD_URL = "https://x.test/dead.gif"
ROWS = [
    f"{SIZED_URL}\ta brown dog jumps into a swimming pool .\n",
    f"{SIZED_URL}\ta dog splashes into the water .\n",
    f"{DEAD_URL}\ta dog jumps over a garden fence .\n",
]


@pytest.fixture(scope="module", params=BACKENDS)
def indexed(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    cached_loader: Callable,
) -> Settings:
    root = tmp_path_factory.mktemp("lookup")
    base = Settings(store_dir=root / "store", cache_dir=root / "cache", model="minilm")
    settings = backend_settings(request, base)
    path = write_tsv(root / "gifs.tsv", ROWS + SAMPLE_LINES[:400])
    run_ingest(IngestOptions(source=str(path), limit=None), settings, loader=cached_loader)
    store = GifStore(settings)
    by_url = {gif.url: gif for gif in store.read_gif_links()}
    sized, dead = by_url[SIZED_URL], by_url[DEAD_URL]
    alive = LinkState(LinkStatus.ALIVE, 1_700_000_000, width=480, height=270)
    store.write_link_states([(row_id, alive) for row_id in sized.description_ids])
    gone = LinkState(LinkStatus.DEAD, 1_700_000_100, "http_error")
    store.write_link_states([(row_id, gone) for row_id in dead.description_ids])
    return settings


@pytest.fixture(scope="module")
def engine(indexed: Settings, cached_loader: Callable) -> SearchEngine:
    return SearchEngine.open(indexed, loader=cached_loader)


def test_hits_carry_the_size_and_link_state_where_they_were_recorded(
    engine: SearchEngine,
) -> None:
    hits = engine.search(SearchRequest("a brown dog jumps into a swimming pool", k=5))
    top = hits[0]
    assert top.url == SIZED_URL
    assert (top.width, top.height, top.link, top.link_checked_at) == (
        480, 270, "alive", 1_700_000_000,
    )  # fmt: skip
    never_seen = hits[1]
    assert (never_seen.width, never_seen.height, never_seen.link) == (0, 0, "")
    shown = engine.search(SearchRequest("a dog jumps over a garden fence", k=3, include_dead=True))
    dead = next(h for h in shown if h.url == DEAD_URL)
    assert dead.dead and dead.link == "dead"


def test_gifs_are_looked_up_by_id_in_the_order_asked_and_unknown_ids_left_out(
    engine: SearchEngine,
) -> None:
    hits = engine.search(SearchRequest("a dog", k=3))
    ids = [h.gif_id for h in hits]
    unknown = "0" * 32
    found = engine.gifs([ids[2], unknown, ids[0], ids[2]])
    assert [g.gif_id for g in found] == [ids[2], ids[0]]
    assert found[1].url == hits[0].url
    assert set(found[1].descriptions) == {hits[0].description, *hits[0].other_descriptions}
    sized = engine.gifs([next(g.gif_id for g in GifStore(engine.store.settings).read_gif_links()
                              if g.url == SIZED_URL)])[0]  # fmt: skip
    assert (sized.width, sized.height, sized.link) == (480, 270, "alive")


def test_a_bad_id_is_refused_in_one_line(engine: SearchEngine) -> None:
    with pytest.raises(ValueError, match="is not a GIF id"):
        engine.gifs(["../../etc/passwd"])


def test_the_featured_selection_is_stable_diverse_and_pages(
    engine: SearchEngine, indexed: Settings, cached_loader: Callable
) -> None:
    first = engine.featured(10)
    again = SearchEngine.open(indexed, loader=cached_loader).featured(10)  # a new process
    assert [h.gif_id for h in first] == [h.gif_id for h in again]
    assert len({h.gif_id for h in first}) == 10 and first.has_more
    assert all(h.score_kind == ScoreKind.NONE and h.to_dict()["score"] is None for h in first)
    second = engine.featured(10, offset=10)
    assert not {h.gif_id for h in first} & {h.gif_id for h in second}
    assert DEAD_URL not in {h.url for h in engine.featured(50)}  # dead GIFs are left out
    # Diverse: the featured GIFs are less alike than the same number of GIFs taken as
    # they come (the collection's first rows).
    vectors = {h.gif_id: engine.embedder.embed_query(h.description) for h in first}
    plain = engine.gifs([r.gif_id for r in engine.store.read_all(documents=False)[:60]])[:10]
    plain_vectors = {g.gif_id: engine.embedder.embed_query(g.descriptions[0]) for g in plain}
    assert mean_pairwise_cosine(vectors) < mean_pairwise_cosine(plain_vectors)


def mean_pairwise_cosine(vectors: dict[str, np.ndarray]) -> float:
    matrix = np.stack(list(vectors.values()))
    cosines = matrix @ matrix.T
    count = len(matrix)
    return float((cosines.sum() - np.trace(cosines)) / (count * (count - 1)))


def test_diverse_order_starts_central_then_takes_the_farthest() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8], [-1.0, 0.0]])
    order = diverse_order(vectors, 3)
    assert order[0] == 3  # nearest the mean (0.28, 0.48)
    assert order[1] == 4  # least like [0.6, 0.8]: the opposite one
    assert diverse_order(vectors, 10) == diverse_order(vectors, 5)  # at most every row


def test_a_store_of_one_gif_features_it_alone(tmp_path: Path, cached_loader: Callable) -> None:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "c", model="minilm")
    path = write_tsv(tmp_path / "one.tsv", ROWS[:1])
    run_ingest(IngestOptions(source=str(path), limit=None), settings, loader=cached_loader)
    engine = SearchEngine.open(settings, loader=cached_loader)
    assert [h.url for h in engine.featured(5)] == [SIZED_URL]
    assert not engine.featured(5, offset=1)
