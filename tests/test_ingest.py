"""The ingest job through the real bundled model and a real Chroma store in tmp_path."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from ingest.job import IngestOptions, run_ingest
from search_app.embedders.sbert import Embedder, bundled_minilm_path
from search_app.errors import ModelMismatchError
from search_app.settings import Settings
from search_app.store.client import GifStore
from tests.conftest import write_tsv

Loader = Callable[[str, Settings], Embedder]


def ingest(settings: Settings, loader: Loader, path: Path, **options: object):
    return run_ingest(IngestOptions(source=str(path), **options), settings, loader=loader)


def test_first_ingest_embeds_every_kept_row_and_persists(
    settings: Settings, cached_loader: Loader, sample_lines: list[str], tmp_path: Path
) -> None:
    path = write_tsv(tmp_path / "gifs.tsv", sample_lines[:300] + ["bad row\n"])
    report = ingest(settings, cached_loader, path)
    assert (report.rows_read, report.kept, report.embedded, report.upserted) == (301, 300, 300, 300)
    assert report.dropped == {"wrong_columns": 1}
    assert report.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert report.device.startswith("cpu")
    reopened = GifStore(settings)
    assert reopened.count() == 300
    binding = reopened.require_binding()
    assert (binding.model_name, binding.dimension, binding.normalized) == (
        "sentence-transformers/all-MiniLM-L6-v2",
        384,
        True,
    )


def test_second_ingest_embeds_nothing_and_changes_nothing(
    settings: Settings, cached_loader: Loader, sample_lines: list[str], tmp_path: Path
) -> None:
    path = write_tsv(tmp_path / "gifs.tsv", sample_lines[:200])
    ingest(settings, cached_loader, path)
    before = GifStore(settings).read_all()

    def refuse_to_load(model: str, settings: Settings) -> Embedder:
        raise AssertionError("an unchanged re-ingest must not even load the model")

    again = ingest(settings, refuse_to_load, path)
    assert (again.embedded, again.unchanged, again.upserted) == (0, 200, 0)
    after = GifStore(settings).read_all()
    assert sorted(before, key=lambda r: r.row_id) == sorted(after, key=lambda r: r.row_id)


def test_grown_set_embeds_only_the_new_rows(
    settings: Settings, cached_loader: Loader, sample_lines: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "gifs.tsv"
    ingest(settings, cached_loader, write_tsv(path, sample_lines[:150]))
    grown = ingest(settings, cached_loader, write_tsv(path, sample_lines[:200]))
    assert (grown.embedded, grown.unchanged) == (50, 150)
    assert GifStore(settings).count() == 200


def test_prune_removes_rows_of_that_source_no_longer_present(
    settings: Settings, cached_loader: Loader, sample_lines: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "gifs.tsv"
    other = write_tsv(tmp_path / "other.tsv", sample_lines[500:520])
    ingest(settings, cached_loader, write_tsv(path, sample_lines[:100]))
    ingest(settings, cached_loader, other)
    without_prune = ingest(settings, cached_loader, write_tsv(path, sample_lines[:60]))
    assert without_prune.pruned == 0
    assert GifStore(settings).count() == 120
    pruned = ingest(settings, cached_loader, path, prune=True)
    assert pruned.pruned == 40
    store = GifStore(settings)
    assert store.count() == 80  # the other source's 20 rows are untouched
    assert len(store.ids_for_source(str(other.resolve()))) == 20


def test_limit_samples_rows_deterministically(
    settings: Settings, cached_loader: Loader, sample_lines: list[str], tmp_path: Path
) -> None:
    path = write_tsv(tmp_path / "gifs.tsv", sample_lines[:400])
    report = ingest(settings, cached_loader, path, limit=100)
    assert (report.kept, report.sampled_out, report.embedded) == (400, 300, 100)
    again = ingest(settings, cached_loader, path, limit=100)
    assert again.embedded == 0


def test_ingest_with_another_model_is_refused_naming_both(
    settings: Settings,
    cached_loader: Loader,
    sample_lines: list[str],
    tmp_path: Path,
    tiny_clip_dir: Path,
) -> None:
    path = write_tsv(tmp_path / "gifs.tsv", sample_lines[:50])
    ingest(settings, cached_loader, path)
    clip_settings = replace(settings, model=str(tiny_clip_dir))
    with pytest.raises(ModelMismatchError) as caught:
        ingest(clip_settings, cached_loader, write_tsv(tmp_path / "more.tsv", sample_lines[50:60]))
    message = str(caught.value)
    assert "all-MiniLM-L6-v2" in message and str(tiny_clip_dir.resolve()) in message
    assert "\n" not in message
    assert GifStore(settings).count() == 50  # nothing written


def test_same_dimension_model_is_refused_by_name(
    settings: Settings, cached_loader: Loader, sample_lines: list[str], tmp_path: Path
) -> None:
    copy = tmp_path / "my-minilm"
    shutil.copytree(bundled_minilm_path(), copy)  # same weights and 384-d, another name
    path = write_tsv(tmp_path / "gifs.tsv", sample_lines[:30])
    ingest(settings, cached_loader, path)
    with pytest.raises(ModelMismatchError, match="my-minilm"):
        ingest(replace(settings, model=str(copy)), cached_loader, path)


def test_collections_live_side_by_side(
    settings: Settings, cached_loader: Loader, sample_lines: list[str], tmp_path: Path
) -> None:
    ingest(settings, cached_loader, write_tsv(tmp_path / "a.tsv", sample_lines[:40]))
    second = replace(settings, collection=f"{settings.collection}-other")
    ingest(second, cached_loader, write_tsv(tmp_path / "b.tsv", sample_lines[40:65]))
    assert GifStore(settings).count() == 40
    assert GifStore(second).count() == 25
