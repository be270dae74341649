"""Categories and completions kept beside the collection: built at ingest end, read back
after a restart, built anew when the collection changes or the file is unusable, kept
current in a reader by the keeper; a frames-only collection; real stores (embedded and a
`chroma run` server), the real MiniLM, real sample rows, the tiny CLIP for frames."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from gifsearch.cli import main
from ingest.job import IngestOptions, run_ingest
from search_app.embedders.sbert import Embedder
from search_app.records import LinkState, LinkStatus
from search_app.retrieval.completion import RelatedPhrases
from search_app.retrieval.derived import (
    MAX_FILE_BYTES,
    Derived,
    build_derived,
    categories_of,
    derived_path,
    ensure_derived,
    load_derived,
    save_derived,
    to_json,
)
from search_app.retrieval.derived_keeper import DerivedKeeper
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.phrases import PhraseIndex
from search_app.retrieval.sample import content_signature
from search_app.settings import Settings
from search_app.store.binding import ModelBinding
from search_app.store.client import GifStore
from search_app.store.usage import PastSearch
from tests.conftest import BACKENDS, SAMPLE_LINES, backend_settings, filled_settings, write_tsv
from tests.frames.conftest import tiny_clip_settings, write_gif_folder

FIRST = SAMPLE_LINES[:150]
ZEPPELIN = [f"https://x.test/zeppelin-{n}.gif\ta zeppelin floats over a city .\n" for n in range(3)]
PAST = [PastSearch("a zebra", 2, 10.0)]


def ingest(settings: Settings, lines: list[str], loader: Callable, name: str = "gifs") -> None:
    path = write_tsv(settings.cache_dir.parent / f"{name}.tsv", lines)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    run_ingest(IngestOptions(str(path), limit=None), settings, loader=loader)


def never_embed(texts: Sequence[str]) -> np.ndarray:
    raise AssertionError(f"nothing should be embedded here, asked for {len(texts)} texts")


@pytest.fixture(params=BACKENDS)
def small(request: pytest.FixtureRequest, tmp_path: Path, cached_loader: Callable) -> Settings:
    """Settings whose collection holds 150 real rows (embedded store or a server)."""
    base = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache", model="minilm")
    settings = backend_settings(request, base)
    ingest(settings, FIRST, cached_loader)
    return settings


def test_they_are_kept_read_back_after_a_restart_and_rebuilt_when_rows_change(
    small: Settings, minilm: Embedder, cached_loader: Callable
) -> None:
    built, notice = ensure_derived(GifStore(small), minilm.embed_texts)
    path = derived_path(small)
    assert path is not None and path.is_file()
    if small.chroma_host:  # nothing of ours on the server: the cache keeps it
        assert path.is_relative_to(small.cache_dir / "derived")
    else:  # it moves with the store
        assert path.parent == small.store_dir / "derived"
    assert notice is not None and str(path) in notice and "categories (" in notice
    assert built.categories and len(built.phrases) > 100

    again, notice = ensure_derived(GifStore(small), never_embed)  # a new process's store
    assert notice is None
    assert to_json(again) == to_json(built)
    assert categories_of(GifStore(small)) == list(built.categories)  # no model loaded

    store = GifStore(small)  # a link check marks rows: the rows are the same ones
    row_id = store.read_all(documents=False)[0].row_id
    store.write_link_states([(row_id, LinkState(LinkStatus.ALIVE, 1))])
    assert content_signature(store) == built.signature

    ingest(small, FIRST + ZEPPELIN, cached_loader, "more")
    changed, notice = ensure_derived(GifStore(small), minilm.embed_texts)
    assert notice is not None
    assert changed.signature != built.signature
    assert "a zeppelin floats over a city" in changed.phrases.phrases
    assert "a zeppelin" not in built.phrases.phrases
    kept, _ = load_derived(path)
    assert kept is not None and to_json(kept) == to_json(changed)


def good_file(settings: Settings, minilm: Embedder) -> tuple[Path, dict]:
    derived, _ = ensure_derived(GifStore(settings), minilm.embed_texts)
    path = derived_path(settings)
    assert path is not None
    return path, to_json(derived)


def put(path: Path, data: object) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


BAD_FILES: dict[str, Callable[[Path, dict], None]] = {
    "not-json": lambda path, good: path.write_text("{not json", encoding="utf-8"),
    "not-an-object": lambda path, good: put(path, [good]),
    "other-version": lambda path, good: put(path, {**good, "version": 99}),
    "counts-missing": lambda path, good: put(path, {**good, "counts": good["counts"][:-1]}),
    "negative-count": lambda path, good: put(path, {**good, "counts": [-1] * len(good["counts"])}),
    "bool-count": lambda path, good: put(path, {**good, "counts": [True] * len(good["counts"])}),
    "phrase-too-long": lambda path, good: put(
        path, {**good, "phrases": ["x" * 500] * len(good["phrases"])}
    ),  # fmt: skip
    "control-characters": lambda path, good: put(
        path, {**good, "categories": [{**good["categories"][0], "name": "a\x1b[31mred"}]}
    ),  # fmt: skip
    "bad-gif-id": lambda path, good: put(
        path, {**good, "categories": [{**good["categories"][0], "gif_id": "../etc/passwd"}]}
    ),  # fmt: skip
    "vectors-short": lambda path, good: put(path, {**good, "related_vectors": "AAAA"}),
    "vectors-not-base64": lambda path, good: put(path, {**good, "related_vectors": "%%%"}),
    "nested-deep": lambda path, good: path.write_text("[" * 100_000, encoding="utf-8"),
    "oversized": lambda path, good: path.open("ab").truncate(MAX_FILE_BYTES + 1),
    "directory": lambda path, good: (path.unlink(), path.mkdir()),
    "symlink": lambda path, good: (path.unlink(), path.symlink_to("/etc/hostname")),
}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable) -> Settings:
    """An embedded store holding 150 real rows, shared by tests that leave it as it was."""
    return filled_settings(tmp_path_factory.mktemp("derived"), FIRST, cached_loader)


@pytest.mark.parametrize("damage", sorted(BAD_FILES), ids=sorted(BAD_FILES))
def test_an_unusable_file_is_named_in_one_line_and_built_anew(
    embedded: Settings, minilm: Embedder, damage: str
) -> None:
    settings = embedded
    path, good = good_file(settings, minilm)
    BAD_FILES[damage](path, good)
    found, problem = load_derived(path)
    assert found is None
    assert str(path) in problem and "\n" not in problem
    if damage == "directory":
        path.rmdir()  # a folder in its place: the build can't write there
    rebuilt, notice = ensure_derived(GifStore(settings), minilm.embed_texts)
    assert notice is not None and str(path) in notice
    assert to_json(rebuilt)["categories"] == good["categories"]
    assert path.is_file() and not path.is_symlink() and load_derived(path)[0] is not None


def test_a_store_folder_that_cannot_be_written_keeps_them_in_memory(
    tmp_path: Path, cached_loader: Callable, minilm: Embedder
) -> None:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache", model="minilm")
    ingest(settings, FIRST, cached_loader)
    (settings.store_dir / "derived").write_text("a file where the folder would go")
    derived, notice = ensure_derived(GifStore(settings), minilm.embed_texts)
    assert derived.categories
    assert notice is not None and "kept in memory only: can't write" in notice


def test_a_frames_only_collection_has_no_categories_or_phrases(
    tmp_path: Path, tiny_clip_dir: Path
) -> None:
    settings = tiny_clip_settings(tmp_path, tiny_clip_dir)
    folder = write_gif_folder(tmp_path / "gifs")
    run_ingest(IngestOptions(str(folder), limit=None), settings)
    store = GifStore(settings)
    assert store.count_kind("frame") > 0 and store.count_kind("description") == 0
    derived, notice = ensure_derived(store, never_embed)
    assert derived.categories == () and len(derived.phrases) == 0 and not derived.related.phrases
    assert notice is not None
    again, notice = ensure_derived(GifStore(settings), never_embed)
    assert notice is None and again.signature == derived.signature


def test_the_keeper_builds_in_the_background_then_follows_the_kept_file(
    tmp_path: Path, cached_loader: Callable, minilm: Embedder
) -> None:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache", model="minilm")
    ingest(settings, FIRST, cached_loader)
    engine = SearchEngine.open(settings, loader=cached_loader)
    keeper = DerivedKeeper(engine, settle_s=0.0)
    assert keeper.current() is None  # nothing kept yet: no waiting for the build
    assert keeper.completer().complete("a ze", 5, PAST) == ["a zebra"]
    held = keeper.wait(300)  # built in a separate process, with the model loaded there
    assert held is not None, keeper.problem
    in_process = build_derived(GifStore(settings), minilm.embed_texts)
    assert held.categories == in_process.categories
    assert held.phrases.phrases == in_process.phrases.phrases
    assert held.related.phrases == in_process.related.phrases
    path = derived_path(settings)
    assert path is not None and load_derived(path)[0] is not None  # and kept
    assert [c.name for c in keeper.categories()] == [c.name for c in held.categories]

    ingest(settings, FIRST + ZEPPELIN, cached_loader, "more")  # as `gifsearch ingest` does:
    ensure_derived(GifStore(settings), minilm.embed_texts)  # it builds at its end
    fresh = keeper.wait(60)
    assert fresh is not None and fresh.signature != held.signature
    assert keeper.completer().complete("a zep", 3) == ["a zeppelin", "a zeppelin floats",
                                                       "a zeppelin floats over a city"]  # fmt: skip
    assert keeper.completer().suggestions("an airship", 3)


def test_the_keeper_leaves_a_store_that_is_changing_to_the_ingest_writing_it(
    tmp_path: Path, cached_loader: Callable
) -> None:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache", model="minilm")
    ingest(settings, FIRST[:60], cached_loader)  # its files changed a moment ago
    keeper = DerivedKeeper(SearchEngine.open(settings, loader=cached_loader), settle_s=600.0)
    assert keeper.wait(3) is None
    assert keeper.problem == ""
    assert not (settings.store_dir / "derived").exists()  # nothing was built


def test_the_keeper_of_an_empty_collection_offers_past_searches(
    tmp_path: Path, cached_loader: Callable, minilm: Embedder
) -> None:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache", model="minilm")
    store = GifStore(settings, create=True)
    binding = ModelBinding(minilm.name, minilm.spec.ref, minilm.dimension, images=False)
    store.ensure_collection(binding)
    keeper = DerivedKeeper(SearchEngine.open(settings, loader=cached_loader), settle_s=0.0)
    held = keeper.wait(300)
    assert held is not None and held.categories == ()
    assert keeper.completer().complete("a z", 5, PAST) == ["a zebra"]
    assert keeper.completer().suggestions("a zebra", 5) == []


def test_a_keeper_whose_collection_is_gone_says_so_in_one_line(
    tmp_path: Path, cached_loader: Callable
) -> None:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache", model="minilm")
    ingest(settings, FIRST[:20], cached_loader)
    engine = SearchEngine.open(settings, loader=cached_loader)
    engine.store.drop_collections()
    notices: list[str] = []
    keeper = DerivedKeeper(engine, settle_s=0.0, on_notice=notices.append)
    assert keeper.wait(60) is None
    assert keeper.problem.startswith("categories and completions not built: ")
    assert "\n" not in keeper.problem and notices == [keeper.problem]


def test_ingest_builds_them_once_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_tsv(tmp_path / "gifs.tsv", FIRST)
    args = ["ingest", "--source", str(source), "--store", str(tmp_path / "store"),
            "--model", "minilm", "--quiet"]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    path = tmp_path / "store" / "derived" / "gifs.json"
    assert f"kept in {path}" in err and "categories (" in err
    assert main([*args, "--json"]) == 0  # nothing changed: nothing built
    out, err = capsys.readouterr()
    assert "categories" not in err
    assert json.loads(out)["embedded"] == 0


def test_saving_is_atomic_and_readable_by_others(tmp_path: Path) -> None:
    derived = Derived("sig", (), PhraseIndex(["a dog"], np.array([2])), RelatedPhrases.empty())
    path = tmp_path / "derived" / "gifs.json"
    save_derived(path, derived)
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["gifs.json"]  # no temporary left
    kept, problem = load_derived(path)
    assert kept is not None and problem == ""
    assert to_json(kept) == to_json(derived)
