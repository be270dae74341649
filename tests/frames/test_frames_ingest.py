"""Ingest with frames through the tiny CLIP: downloads from a local server, GIF folders,
storage beside the descriptions under the same model binding, reruns, pruning."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.job import IngestOptions, run_ingest
from search_app.embedders.frames import open_image, select_frames
from search_app.embedders.query_embedder import load_for_settings
from search_app.embedders.sbert import Embedder
from search_app.errors import ImagesUnsupportedError
from search_app.records import RowKind
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from search_app.store.client import GifStore
from tests.conftest import write_tsv
from tests.frames.conftest import (
    SET_OF_GIFS,
    endless_route,
    gif_route,
    redirect,
    slow_route,
)
from tests.local_http import serve_handlers

GOOD = {f"/{name}": data for name, data in SET_OF_GIFS.items()}
BAD = {  # path -> the reason it is counted under
    "/slow.gif": "timeout",
    "/page.gif": "not_gif",
    "/to-file.gif": "bad_redirect",
    "/huge.gif": "too_large",
    "/broken.gif": "decode_error",
    "/gone.gif": "http_error",
}
# Generous enough for a loaded CI machine running a Chroma server beside the test; the
# slow route stays silent well past the read timeout.
FAST = {"gif_timeout_s": 2.0, "gif_deadline_s": 4.0, "max_gif_bytes": 1_000_000}


@pytest.fixture(scope="module")
def gif_server() -> Iterator[str]:
    routes = {path: gif_route(data) for path, data in GOOD.items()}
    routes |= {
        "/slow.gif": slow_route(GOOD["/red-circle.gif"], delay_s=6.0),
        "/page.gif": gif_route(b"<html>not here</html>", content_type="text/html"),
        "/to-file.gif": redirect("file:///etc/passwd"),
        "/huge.gif": endless_route(declare_length=False),
        "/broken.gif": gif_route(b"GIF89a" + b"\xff" * 200),
    }
    with serve_handlers(routes) as (base_url, _):
        yield base_url


def tsv_lines(base_url: str) -> list[str]:
    """A description for every good and bad GIF; two for the red circle."""
    lines = [f"{base_url}{path}\ta {path.strip('/').split('.')[0]} moves\n" for path in GOOD]
    lines.append(f"{base_url}/red-circle.gif\ta red ball rolls on white\n")
    return lines + [f"{base_url}{path}\ta gif that will fail\n" for path in BAD]


def expected_frames(data: bytes) -> int:
    return len(select_frames(open_image(data), "diverse", 3).indices)


def test_frames_are_downloaded_embedded_and_failures_counted(
    clip_settings: Settings, gif_server: str, tmp_path: Path
) -> None:
    source = write_tsv(tmp_path / "gifs.tsv", tsv_lines(gif_server))
    options = IngestOptions(source=str(source), frames=True, **FAST)
    skipped: list[tuple[str, str]] = []
    report = run_ingest(
        options, clip_settings, on_skipped_gif=lambda url, why: skipped.append((url, why))
    )
    assert report.embedded == len(GOOD) + 1 + len(BAD)  # descriptions, as without frames
    assert report.frame_set == "diverse-3"
    assert report.gifs_framed == len(GOOD)
    assert report.frames_embedded == sum(expected_frames(d) for d in GOOD.values())
    assert report.gifs_failed == {reason: 1 for reason in BAD.values()}
    assert sorted(skipped) == sorted((gif_server + path, why) for path, why in BAD.items())

    store = GifStore(clip_settings)
    binding = store.require_binding()
    assert binding.images is True and binding.dimension == 16
    frames = store.read_all([RowKind.FRAME])
    assert len(frames) == report.frames_embedded == store.count_kind(RowKind.FRAME)
    assert store.count() == report.embedded + report.frames_embedded
    assert {row.kind for row in frames} == {RowKind.FRAME}
    assert {row.url for row in frames} == {gif_server + path for path in GOOD}
    assert all(row.frame_set == "diverse-3" and row.frame_index is not None for row in frames)

    again = run_ingest(options, clip_settings)
    assert (again.embedded, again.gifs_framed, again.frames_embedded) == (0, 0, 0)
    assert again.gifs_framed_before == len(GOOD)
    assert sum(again.gifs_failed.values()) == len(BAD)  # failures are tried again


def test_a_folder_of_gifs_is_searchable_by_text_through_its_frames(
    clip_settings: Settings, gif_folder: Path
) -> None:
    report = run_ingest(IngestOptions(source=str(gif_folder)), clip_settings)
    assert (report.rows_read, report.embedded, report.gifs_framed) == (4, 0, 4)
    assert report.gifs_failed == {}
    engine = SearchEngine.open(replace(clip_settings, model="auto"), load_for_settings)
    hits = engine.search(SearchRequest("a red circle", k=10))
    assert len(hits) == len({h.gif_id for h in hits}) == 4
    assert {Path(h.url.removeprefix("file://")).name for h in hits} == set(SET_OF_GIFS)
    assert all(h.matched == ("frame",) and h.description == "" for h in hits)
    assert all(h.score_kind == "cosine" and h.description_score is None for h in hits)
    # the score is the cosine of the query and the GIF's best frame
    query = engine.embedder.embed_query("a red circle")
    top = hits[0]
    vectors = engine.store.vectors_for_gif(top.gif_id, RowKind.FRAME)
    assert top.score == pytest.approx(float(np.max(vectors @ query)), abs=1e-4)
    rows = engine.store.rows_for_gifs([top.gif_id], RowKind.FRAME)
    assert all(Path(r.url.removeprefix("file://")).is_file() for r in rows)


def test_another_frame_strategy_replaces_a_gifs_frames(
    embedded_clip_settings: Settings, gif_folder: Path
) -> None:
    run_ingest(IngestOptions(source=str(gif_folder)), embedded_clip_settings)
    report = run_ingest(
        IngestOptions(source=str(gif_folder), frame_strategy="even", frames_per_gif=2),
        embedded_clip_settings,
    )
    assert (report.gifs_framed, report.frames_embedded) == (4, 8)
    frames = GifStore(embedded_clip_settings).read_all([RowKind.FRAME])
    assert len(frames) == 8 and {row.frame_set for row in frames} == {"even-2"}


def test_prune_removes_the_frames_of_deleted_files(
    embedded_clip_settings: Settings, gif_folder: Path
) -> None:
    run_ingest(IngestOptions(source=str(gif_folder)), embedded_clip_settings)
    store = GifStore(embedded_clip_settings)
    gone = next(r for r in store.read_all([RowKind.FRAME]) if r.url.endswith("/red-circle.gif"))
    (gif_folder / "red-circle.gif").unlink()
    report = run_ingest(IngestOptions(source=str(gif_folder), prune=True), embedded_clip_settings)
    left = GifStore(embedded_clip_settings).read_all([RowKind.FRAME])
    assert report.pruned == expected_frames(SET_OF_GIFS["red-circle.gif"])
    assert gone.gif_id not in {row.gif_id for row in left} and len(left) > 0


def test_frames_with_a_text_only_model_are_refused_in_one_line(
    tmp_path: Path, gif_folder: Path, cached_loader: Callable[[str, Settings], Embedder]
) -> None:
    minilm = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "c", model="minilm")
    with pytest.raises(ImagesUnsupportedError, match="all-MiniLM-L6-v2 can't embed images"):
        run_ingest(IngestOptions(source=str(gif_folder)), minilm, loader=cached_loader)
    assert GifStore(minilm).binding() is None  # nothing was created
    rows = write_tsv(tmp_path / "rows.tsv", ["https://x.test/1.gif\ta dog runs\n"])
    run_ingest(IngestOptions(source=str(rows)), minilm, loader=cached_loader)
    assert GifStore(minilm).require_binding().images is False

    def must_not_load(model: str, settings: Settings) -> Embedder:
        raise AssertionError("the binding says text-only: no model should load")

    auto = replace(minilm, model="auto")
    with pytest.raises(ImagesUnsupportedError) as caught:
        run_ingest(IngestOptions(source=str(rows), frames=True), auto, loader=must_not_load)
    assert str(caught.value) == (
        'collection "gifs" uses sentence-transformers/all-MiniLM-L6-v2, which can\'t embed '
        "images; use --model clip and another --collection to ingest frames"
    )
