"""The catalog (each GIF's row ids, built in the background): what it holds against a real
store, that it is built off the caller's thread while the store answers, that a build the
store changed under is thrown away, and that a long-lived engine's answers are the same
with it as without it. A real embedded store, the real MiniLM, real sample rows."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.job import IngestOptions, run_ingest
from search_app.records import LinkState, LinkStatus, RowKind
from search_app.retrieval import catalog as catalog_module
from search_app.retrieval.catalog import CatalogKeeper, GifCatalog, RowPage
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from search_app.store.client import GifStore
from tests.conftest import SAMPLE_LINES, filled_settings, write_tsv

QUERIES = ("a dog runs on the beach", "a man plays the guitar", "two girls are dancing")


@pytest.fixture(scope="module")
def store_settings(tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable) -> Settings:
    """An embedded store of 600 real sample rows (several descriptions per GIF)."""
    return filled_settings(tmp_path_factory.mktemp("catalog"), SAMPLE_LINES[:600], cached_loader)


def gated(pages: Callable[[], Iterator[RowPage]], gate: threading.Event) -> Callable:
    """A read of the store's pages that starts only once gate is set (a build in flight)."""

    def read() -> Iterator[RowPage]:
        gate.wait(timeout=60)
        yield from pages()

    return read


def test_the_catalog_holds_every_row_of_each_gif(store_settings: Settings) -> None:
    store = GifStore(store_settings)
    catalog = GifCatalog.from_pages(store.iter_gif_ids())
    rows = store.read_all(documents=False)
    gif_ids = sorted({row.gif_id for row in rows})
    assert (catalog.rows, catalog.gif_count) == (len(rows), len(gif_ids))
    by_kind, missing = catalog.row_ids_of(gif_ids[:50] + ["0" * 32])
    assert missing == ["0" * 32]
    expected = {row.row_id for row in store.rows_for_gifs(gif_ids[:50])}
    assert set(by_kind[RowKind.DESCRIPTION]) == expected and not by_kind[RowKind.FRAME]
    read_back = store.rows_by_id(by_kind[RowKind.DESCRIPTION])
    assert {row.gif_id for row in read_back} == set(gif_ids[:50])


def test_the_catalog_is_built_in_the_background_while_the_caller_goes_on(
    store_settings: Settings,
) -> None:
    store, gate = GifStore(store_settings), threading.Event()
    keeper = CatalogKeeper(gated(store.iter_gif_ids, gate))
    assert keeper.get(build=True) is None  # the build waits on the gate: not built yet
    asked = time.monotonic()
    assert keeper.get(build=True, wait_s=30.0) is None  # a build it didn't start: no wait
    assert time.monotonic() - asked < 15.0
    gate.set()
    built = keeper.wait(timeout_s=60)
    assert built is not None and built.rows == store.count()
    assert keeper.get(build=False) is built


def test_a_build_the_store_changed_under_is_thrown_away(store_settings: Settings) -> None:
    store, gate = GifStore(store_settings), threading.Event()
    keeper = CatalogKeeper(gated(store.iter_gif_ids, gate))
    keeper.get(build=True)
    keeper.drop()  # the store changed while the build read it
    gate.set()
    assert keeper.wait(timeout_s=60) is None  # that build's catalog is not kept
    assert keeper.get(build=False) is None


def test_a_servers_age_limit_drops_an_old_catalog_but_never_a_build_in_flight(
    store_settings: Settings,
) -> None:
    """A server store's searches each ask to drop a catalog past its age: while one is
    being built there is none to drop, and the build's result is kept."""
    store, gate = GifStore(store_settings), threading.Event()
    keeper = CatalogKeeper(gated(store.iter_gif_ids, gate))
    keeper.get(build=True)
    for _ in range(3):  # searches arriving during the build
        keeper.drop_older_than(600.0)
    gate.set()
    built = keeper.wait(timeout_s=60)
    assert built is not None and keeper.get(build=False) is built
    keeper.drop_older_than(600.0)
    assert keeper.get(build=False) is built  # young: kept
    keeper.drop_older_than(0.0)
    assert keeper.get(build=False) is None  # past the age: dropped


def test_a_failed_build_leaves_the_store_answering_and_is_tried_again(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    store = GifStore(store_settings)
    attempts = []

    def flaky() -> Iterator[RowPage]:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk read failed")
        yield from store.iter_gif_ids()

    monkeypatch.setattr(catalog_module, "RELOAD_INTERVAL_S", 0.0)
    monkeypatch.setattr(catalog_module, "REBUILD_PAUSE_FACTOR", 0.0)
    keeper = CatalogKeeper(flaky)
    assert keeper.wait(timeout_s=60) is None
    assert "Traceback" not in capfd.readouterr().err  # a failed build prints nothing
    assert keeper.get(build=True, wait_s=60) is not None and len(attempts) == 2


def test_stats_answer_at_once_and_count_gifs_once_the_catalog_is_built(
    store_settings: Settings, cached_loader: Callable
) -> None:
    engine = SearchEngine.open(store_settings, loader=cached_loader)
    quick = engine.stats(wait=False)
    assert quick.descriptions == 600
    exact = engine.stats()  # waits for the catalog
    gif_count = len({row.gif_id for row in engine.store.read_all(documents=False)})
    assert exact.gifs == gif_count and exact.descriptions == 600
    assert engine.stats(wait=False).gifs == gif_count


def test_answers_are_the_same_with_the_catalog_as_without_it(
    store_settings: Settings, cached_loader: Callable
) -> None:
    fresh = SearchEngine.open(store_settings, loader=cached_loader)  # no catalog: filters
    fresh_hits = {q: fresh.search(SearchRequest(q, k=8)) for q in QUERIES}
    rows_per_gif = Counter(row.gif_id for row in fresh.store.read_all(documents=False))
    looked_up = [gif_id for gif_id, n in rows_per_gif.most_common(12)]  # several rows each
    fresh_gifs = fresh.gifs(looked_up)
    assert all(len(gif.descriptions) >= 2 for gif in fresh_gifs)
    kept = SearchEngine.open(store_settings, loader=cached_loader)
    kept.stats()  # builds the catalog and waits for it
    assert kept._catalog.get(build=False) is not None  # the lookups below go by id
    shown = []
    for query, hits in fresh_hits.items():
        with_catalog = kept.search(SearchRequest(query, k=8))
        assert [h.to_dict() for h in with_catalog] == [h.to_dict() for h in hits]
        shown += with_catalog
    assert any(h.other_descriptions for h in shown)  # a GIF with several rows among them
    assert kept.gifs(looked_up) == fresh_gifs


def test_a_kept_catalog_gives_way_to_another_processs_writes(
    tmp_path: Path, cached_loader: Callable
) -> None:
    """A new description of a GIF and a dead mark written after the catalog was built
    show at the next search (the store's files changed: the catalog is dropped)."""
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "c", model="minilm")
    dance = "https://x.test/dance.gif"
    lines = [f"{dance}\ta woman is dancing on a stage .\n"] + SAMPLE_LINES[:100]
    source = write_tsv(tmp_path / "a.tsv", lines)
    run_ingest(IngestOptions(source=str(source)), settings, loader=cached_loader)
    engine = SearchEngine.open(settings, loader=cached_loader)
    engine.stats()  # the catalog is built
    assert engine.search(SearchRequest("a woman dancing on a stage", k=1))[0].url == dance
    grown = write_tsv(tmp_path / "b.tsv", [f"{dance}\tshe spins and spins .\n"])
    run_ingest(IngestOptions(source=str(grown)), settings, loader=cached_loader)
    hit = engine.search(SearchRequest("a woman dancing on a stage", k=1))[0]
    assert "she spins and spins ." in hit.other_descriptions
    engine.stats()  # built again, with the new row
    writer = GifStore(settings)
    ids = [row.row_id for row in writer.rows_for_gifs([hit.gif_id])]
    writer.write_link_states(
        [(row_id, LinkState(LinkStatus.DEAD, 1, "http_error")) for row_id in ids]
    )
    hits = engine.search(SearchRequest("a woman dancing on a stage", k=3))
    assert hit.gif_id not in {h.gif_id for h in hits} and hits.hidden_dead == 1
