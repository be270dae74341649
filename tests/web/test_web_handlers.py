"""The web UI's handlers, called directly on a real store with the real MiniLM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from html import escape

import pytest

from gifsearch.exercise_tab import ExerciseHandlers, exercises_tab
from search_app.errors import GifSearchError
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import MAX_K
from search_app.settings import Settings
from search_app.store.binding import ModelBinding
from search_app.store.client import GifStore
from search_app.web.app import guarded, ingest_command
from search_app.web.page import PageView, SearchHandlers


def search(handlers: SearchHandlers, q: str, k: float) -> tuple[str, str, list]:
    html, status, hits, _ = handlers.show(PageView(q=q, k=k))  # type: ignore[arg-type]  # k comes as gradio's float
    return html, status, hits


def more_like(handlers: SearchHandlers, gif_id: object, k: float, title: str = "") -> tuple:
    html, status, hits, _ = handlers.show(PageView(like=gif_id, k=k, title=title))  # type: ignore[arg-type]  # any gif_id; k as gradio's float
    return html, status, hits


def test_search_returns_cards_status_and_ranked_hits(handlers: SearchHandlers) -> None:
    html, status, hits = search(handlers, "a dog is running", 8)
    assert len(hits) == 8
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert len({hit["gif_id"] for hit in hits}) == 8
    assert html.count('class="gs-card') == 8
    assert f"{hits[0]['score']:.3f}" in html
    assert "Results for “a dog is running”" in html
    stats = handlers.engine.stats()
    assert stats.gifs == 150 and stats.descriptions > stats.gifs
    assert "collection **gifs**" in status and "150 GIFs" in status
    assert "all-MiniLM-L6-v2" in status and "8 shown in" in status and " ms" in status


def test_cards_list_each_gifs_other_descriptions(handlers: SearchHandlers) -> None:
    html, _, hits = search(handlers, "a person", MAX_K)
    with_others = [hit for hit in hits if hit["other_descriptions"]]
    assert with_others
    for hit in with_others:
        for other in hit["other_descriptions"]:
            assert escape(other, quote=True) in html
            assert other != hit["description"]


@pytest.mark.parametrize("query", ["", "   ", "\n\t"], ids=["empty", "spaces", "whitespace"])
def test_empty_query_shows_a_friendly_message(handlers: SearchHandlers, query: str) -> None:
    html, status, hits = search(handlers, query, 12)
    assert "Type a sentence first" in html
    assert hits == [] and "gs-card" not in html
    assert "collection **gifs**" in status


@pytest.mark.parametrize("k", [0, 51, 2.5], ids=["zero", "over-max", "fraction"])
def test_results_count_out_of_range_is_explained(handlers: SearchHandlers, k: float) -> None:
    html, _, hits = search(handlers, "a dog", k)
    assert "Could not search" in html and "1 to 50" in html
    assert hits == []


def test_more_like_this_excludes_the_gif_itself(handlers: SearchHandlers) -> None:
    _, _, hits = search(handlers, "a dog is running", 3)
    source = hits[0]
    html, status, similar = more_like(handlers, source["gif_id"], 10, source["description"])
    assert len(similar) == 10
    assert source["gif_id"] not in {hit["gif_id"] for hit in similar}
    scores = [hit["score"] for hit in similar]
    assert scores == sorted(scores, reverse=True)
    assert f"More like “{source['description']}”" in html and "10 shown in" in status


@pytest.mark.parametrize(
    ("gif_id", "message"),
    [
        ("0" * 32, "no GIF with id"),
        ("no-such-gif", "is not a GIF id"),
        ({"$ne": ""}, "a GIF id is text, not dict"),  # a Chroma filter sent as the id
        ("x" * 10_000_000, "is not a GIF id"),
    ],
    ids=["unknown", "malformed", "filter-injection", "ten-megabytes"],
)
def test_more_like_a_bad_gif_id_says_so_in_a_short_line(
    handlers: SearchHandlers, gif_id: object, message: str
) -> None:
    html, _, hits = more_like(handlers, gif_id, 5)
    assert "Could not search" in html and message in html and hits == []
    assert len(html) < 1_000  # at most a short prefix of what was sent comes back


def test_api_search_returns_plain_dicts(handlers: SearchHandlers) -> None:
    results = handlers.api_search("a man is dancing", 5)
    keys = {"description", "gif_id", "other_descriptions", "score", "url"}
    assert len(results) == 5 and all(set(r) >= keys for r in results)
    assert all(isinstance(r["score"], float) and r["url"].startswith("http") for r in results)


@pytest.mark.parametrize(
    ("query", "k", "message"),
    [("  ", 5, "the query is empty"), ("a dog", 0, "use 1 to 50")],
    ids=["empty-query", "bad-count"],
)
def test_api_errors_are_one_line_gradio_errors(
    handlers: SearchHandlers, query: str, k: int, message: str
) -> None:
    with pytest.raises(GifSearchError, match=message):
        handlers.api_search(query, k)


def test_empty_collection_shows_the_ingest_command(
    empty_settings: Settings, cached_loader: Callable, minilm
) -> None:
    store = GifStore(empty_settings, create=True)
    store.ensure_collection(ModelBinding(minilm.name, "minilm", minilm.dimension))
    engine = SearchEngine.open(empty_settings, cached_loader)
    handlers = SearchHandlers(engine, ingest_command(empty_settings))
    html, status, hits = search(handlers, "a dog", 5)
    assert "The collection &quot;gifs&quot; is empty" in html
    assert f"gifsearch ingest --store {empty_settings.store_dir}</code>" in html
    assert hits == [] and "0 GIFs" in status


def test_exercises_tab_shows_heatmaps_and_bat_numbers(minilm) -> None:
    exercises = ExerciseHandlers(lambda: minilm.model)
    first, second, numbers = exercises.handle_attention(
        "She saw a bat flying in the night sky", "He used a bat to hit the ball", "bat"
    )
    assert first.size[0] > 200 and second.size[0] > 200
    assert "top 5 other words" in numbers and "sentence 1 vs sentence 2" in numbers
    _, _, error = exercises.handle_attention("a cat", "a dog", "bat")
    assert error.startswith("**Could not run the exercise:**") and "not in sentence 1" in error


def test_exercises_tab_shows_the_sgd_table(minilm) -> None:
    exercises = ExerciseHandlers(lambda: minilm.model)
    table = exercises.handle_sgd("0.1", "0.5,-0.3", "0.1", '[{"x": [1.0, 0.5], "y": 1}]', 2)
    assert "`lr = 0.1`" in table and "| param |" in table and "epoch 2" in table
    assert "Could not run" in exercises.handle_sgd("fast", "0.5", "0", "[]", 1)


@pytest.mark.parametrize(
    ("lr", "epochs", "message"),
    [
        ("<img src=x onerror=alert(1)>", 1, "&lt;img src=x onerror=alert(1)&gt;"),
        ("0.1", 0, "epochs must be an integer &gt;= 1"),
        ("0.1", 1_000_000, "200 steps or fewer"),
    ],
    ids=["markup-in-input", "zero-epochs", "too-many-steps"],
)
def test_sgd_settings_errors_are_one_escaped_line(
    minilm, lr: str, epochs: int, message: str
) -> None:
    examples = '[{"x": [1.0, 0.5], "y": 1}]'
    answer = ExerciseHandlers(lambda: minilm.model).handle_sgd(
        lr, "0.5,-0.3", "0.1", examples, epochs
    )
    assert answer.startswith("**Could not run the exercise:**") and message in answer
    assert "<img" not in answer


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (("a bat " * 100, "a bat", "bat"), "Sentence 1"),
        (("a bat", "a bat", "bat" * 1_000_000), "Focus word"),
        (("a bat", ["a", "list"], "bat"), "Sentence 2"),
    ],
    ids=["long-sentence", "huge-focus-word", "not-text"],
)
def test_the_exercises_tab_refuses_oversized_fields_before_any_work(
    values: tuple, field: str
) -> None:
    def never_loaded() -> None:
        raise AssertionError("the model must not load for a refused request")

    attention, sgd = exercises_tab(ExerciseHandlers(never_loaded)).panels
    first, second, message = guarded(attention)(*values)
    assert first is None and second is None
    assert f"“{field}”" in message and message.startswith("**Could not run the exercise:**")
    assert len(message) < 200  # nothing of what was sent is echoed back
    table = guarded(sgd)("0.1", "0.5", "0", 1, "[" * 5_000)  # one output: a bare value
    assert isinstance(table, str) and "“Examples (JSON)”" in table


@pytest.mark.parametrize(
    ("changes", "command"),
    [
        ({}, "gifsearch ingest"),
        (
            {"store_dir": "/data/idx", "collection": "memes"},
            "gifsearch ingest --store /data/idx --collection memes",
        ),
        (
            {"chroma_host": "db", "chroma_port": 9000, "chroma_auth_header": "Authorization: x"},
            "gifsearch ingest --chroma-host db --chroma-port 9000",
        ),
    ],
    ids=["defaults", "store-and-collection", "server-without-secret"],
)
def test_ingest_command_names_the_store_but_never_a_secret(changes: dict, command: str) -> None:
    assert ingest_command(replace(Settings(), **changes)) == command
