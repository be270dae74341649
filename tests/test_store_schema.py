"""Collection configuration, the write path and old stores: a collection made by an earlier
version (every default index, the old HNSW settings) is still read, searched, ingested into
and pruned; --rebuild drops it and ingests anew with the current configuration. Real Chroma,
embedded and a real `chroma run` server, through the real bundled model."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from gifsearch.cli import main
from ingest.job import IngestOptions, Stage, run_ingest
from ingest.reader import read_rows
from search_app.embedders.sbert import Embedder
from search_app.errors import SourceError
from search_app.records import GifRecord
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from search_app.store.binding import ModelBinding
from search_app.store.client import HNSW_CONFIG, GifStore
from tests.conftest import SAMPLE_LINES, write_tsv

Loader = Callable[[str, Settings], Embedder]

# How collections were made before issue 12 (chromadb's defaults for everything else).
OLD_HNSW_CONFIG = {"space": "cosine", "batch_size": 2_048, "sync_threshold": 2_048}
OLD_EF_CONSTRUCTION = 100  # chromadb's default, which the old call left in place


def source_rows(path: Path) -> list[GifRecord]:
    """Return the rows an ingest of path keeps, labelled as the job labels them."""
    rows, _ = read_rows(path, str(path.resolve()), None)
    return rows


def make_old_collection(settings: Settings, embedder: Embedder, rows: list[GifRecord]) -> None:
    """Create the collection with the earlier version's call and upsert rows its way."""
    store = GifStore(settings, create=True)
    binding = ModelBinding(embedder.name, embedder.spec.ref, embedder.dimension, images=False)
    collection = store.client.get_or_create_collection(
        settings.collection,
        configuration={"hnsw": OLD_HNSW_CONFIG},
        metadata=binding.to_metadata(),
        embedding_function=None,
    )
    collection.upsert(
        ids=[r.row_id for r in rows],
        embeddings=embedder.embed_texts([r.description for r in rows]),
        documents=[r.description for r in rows],
        metadatas=[r.metadata() for r in rows],
    )


def hnsw_settings(settings: Settings) -> dict:
    """Return the HNSW configuration Chroma recorded for the settings' collection."""
    client = GifStore(settings).client
    return client.get_collection(settings.collection).configuration["hnsw"]  # type: ignore[return-value]  # Chroma: HNSWConfiguration | None


def test_a_new_collection_gets_the_current_configuration_and_keeps_every_index(
    settings: Settings, cached_loader: Loader, tmp_path: Path
) -> None:
    path = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:120])
    run_ingest(IngestOptions(source=str(path)), settings, loader=cached_loader)
    hnsw = hnsw_settings(settings)
    for key in ("space", "sync_threshold", "ef_construction", "max_neighbors"):
        if key in HNSW_CONFIG:
            assert hnsw[key] == HNSW_CONFIG[key], key
    # Every index stays on: gif_id (search, more like this) and source (prune) are queried;
    # disabling the documents' full-text index saved nothing, as Chroma's local store
    # writes it anyway (docs/results.md, "Speed").
    collection = GifStore(settings).client.get_collection(settings.collection)
    dogs = collection.get(where_document={"$contains": "dog"}, include=["documents"])
    others = collection.get(where_document={"$not_contains": "dog"}, include=["documents"])
    assert dogs["ids"] and all("dog" in d for d in dogs["documents"])
    assert len(dogs["ids"]) + len(others["ids"]) == 120
    assert collection.get(where={"source": str(path.resolve())}, include=[])["ids"]


def test_a_new_collection_is_not_asked_for_existing_ids_but_a_second_run_is(
    settings: Settings, cached_loader: Loader, tmp_path: Path
) -> None:
    path = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:60])
    first = run_ingest(IngestOptions(source=str(path)), settings, loader=cached_loader)
    assert Stage.EXISTING not in first.stages
    assert {Stage.READ, Stage.ENCODE, Stage.WRITE} <= set(first.stages)
    again = run_ingest(IngestOptions(source=str(path)), settings, loader=cached_loader)
    assert Stage.EXISTING in again.stages and Stage.WRITE not in again.stages
    assert again.embedded == 0


def test_adding_a_row_that_is_already_stored_leaves_it_as_it_is(
    settings: Settings, minilm: Embedder, tmp_path: Path
) -> None:
    rows = source_rows(write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:20]))
    store = GifStore(settings, create=True)
    store.ensure_collection(ModelBinding(minilm.name, minilm.spec.ref, minilm.dimension))
    vectors = minilm.embed_texts([r.description for r in rows])
    store.add_records(rows, vectors)
    store.add_records(rows[:5], vectors[:5])  # e.g. another writer added them meanwhile
    assert store.count() == 20
    assert sorted(r.row_id for r in store.read_all()) == sorted(r.row_id for r in rows)


def test_a_collection_made_by_an_earlier_version_is_read_searched_ingested_and_pruned(
    settings: Settings, cached_loader: Loader, minilm: Embedder, tmp_path: Path
) -> None:
    path = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:150])
    make_old_collection(settings, minilm, source_rows(path))
    assert hnsw_settings(settings)["ef_construction"] == OLD_EF_CONSTRUCTION

    engine = SearchEngine.open(settings, loader=cached_loader)
    hits = engine.search(SearchRequest("a dog runs", k=5))
    assert len(hits) == 5
    assert hits[0].gif_id not in {
        h.gif_id for h in engine.search(SearchRequest(like=hits[0].gif_id, k=5))
    }

    grown = run_ingest(
        IngestOptions(source=str(write_tsv(path, SAMPLE_LINES[:200]))),
        settings,
        loader=cached_loader,
    )
    assert (grown.embedded, grown.unchanged) == (50, 150)
    pruned = run_ingest(
        IngestOptions(source=str(write_tsv(path, SAMPLE_LINES[:100])), prune=True),
        settings,
        loader=cached_loader,
    )
    assert (pruned.embedded, pruned.pruned) == (0, 100)
    assert GifStore(settings).count() == 100
    assert hnsw_settings(settings)["ef_construction"] == OLD_EF_CONSTRUCTION  # never changed
    assert SearchEngine.open(settings, loader=cached_loader).search(SearchRequest("a cat", k=3))


def test_rebuild_drops_an_old_collection_and_ingests_anew_with_the_current_configuration(
    settings: Settings, cached_loader: Loader, minilm: Embedder, tmp_path: Path
) -> None:
    path = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:80])
    make_old_collection(settings, minilm, source_rows(path)[:50])
    store = GifStore(settings)
    store.ensure_frames_collection(store.require_binding())  # an (empty) frames sibling
    notices: list[str] = []
    report = run_ingest(
        IngestOptions(source=str(path), rebuild=True),
        replace(settings, model="auto"),
        loader=cached_loader,
        on_notice=notices.append,
    )
    assert report.rebuilt and (report.embedded, report.unchanged) == (80, 0)
    frames = f"{settings.collection}.frames"
    assert [n for n in notices if n.startswith("--rebuild")] == [
        f'--rebuild: dropped "{settings.collection}" and "{frames}"; ingesting the source '
        f'anew into "{settings.collection}" with the current configuration'
    ]
    reopened = GifStore(settings)
    assert reopened.count_kind("description") == 80 and not reopened.has_kind("frame")
    assert reopened.require_binding().model_name == minilm.name
    hnsw = hnsw_settings(settings)
    assert hnsw.get("ef_construction") == HNSW_CONFIG.get("ef_construction", OLD_EF_CONSTRUCTION)
    assert SearchEngine.open(settings, loader=cached_loader).search(
        SearchRequest("a dog runs", k=3)
    )


def test_rebuild_with_a_source_without_usable_rows_changes_nothing(
    settings: Settings, cached_loader: Loader, minilm: Embedder, tmp_path: Path
) -> None:
    make_old_collection(
        settings, minilm, source_rows(write_tsv(tmp_path / "a.tsv", SAMPLE_LINES[:30]))
    )
    empty = write_tsv(tmp_path / "empty.tsv", ["no tab here\n"])
    with pytest.raises(SourceError, match="nothing was changed"):
        run_ingest(IngestOptions(source=str(empty), rebuild=True), settings, loader=cached_loader)
    assert GifStore(settings).count() == 30


def test_rebuild_does_not_read_the_old_rows_so_it_recovers_a_broken_vector_index(
    tmp_path: Path, cached_loader: Loader, minilm: Embedder
) -> None:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache", model="minilm")
    path = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:40])
    make_old_collection(settings, minilm, source_rows(path))
    for segment in (settings.store_dir).iterdir():  # the HNSW files, one folder per segment
        if segment.is_dir():
            shutil.rmtree(segment)
    report = run_ingest(
        IngestOptions(source=str(path), rebuild=True), settings, loader=cached_loader
    )
    assert report.embedded == 40
    hits = SearchEngine.open(settings, loader=cached_loader).search(
        SearchRequest("a dog runs", k=40)
    )
    assert len({h.gif_id for h in hits}) == len({r.gif_id for r in source_rows(path)})


def test_the_cli_rebuild_flag_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:15])
    args = ["ingest", "--source", str(source), "--store", str(tmp_path / "s"), "--model",
            "minilm", "--quiet"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--rebuild"]) == 0
    out, err = capsys.readouterr()
    assert [line for line in err.splitlines() if "--rebuild" in line] == [
        'gifsearch: --rebuild: dropped "gifs"; ingesting the source anew into "gifs" with '
        "the current configuration"
    ]
    assert "embedded    15" in out
