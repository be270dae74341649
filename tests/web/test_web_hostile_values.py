"""Hostile values through the page's and the API's handlers (search_app/web/page.py), on a
real store with the real MiniLM: non-finite and mistyped numbers are one line naming the
field (never a traceback, never {"error": null}), and a store lost under a running server
is told to web clients without the server's paths (issue 22, cases 12 and 15)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from search_app.errors import ConfigError, StoreUnavailableError
from search_app.retrieval.engine import SearchEngine
from search_app.settings import Settings
from search_app.web.page import (
    CLIENT_ERRORS,
    SERVER_TROUBLE,
    PageView,
    SearchHandlers,
    apply_form,
    view_from_url,
)

# (API arguments, the words its one-line error holds)
API_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "k-infinity": ({"k": float("inf")}, "k must be a whole number from 1 to 50, not inf"),
    "k-minus-infinity": ({"k": float("-inf")}, "k must be a whole number from 1 to 50, not -inf"),
    "k-nan": ({"k": float("nan")}, "k must be a whole number from 1 to 50, not nan"),
    "k-1e309": ({"k": float("1e309")}, "not inf"),
    "k-text-5": ({"k": "5"}, "k must be a whole number from 1 to 50, not '5'"),
    "k-text-12": ({"k": "12"}, "not '12'"),
    "k-float-5": ({"k": 5.0}, "not 5.0"),
    "k-true": ({"k": True}, "not True"),
    "k-none": ({"k": None}, "not None"),
    "k-zero": ({"k": 0}, "k 0 is out of range: use 1 to 50"),
    "k-5000-digits": ({"k": 10**4999}, "k a number of about 4,999 digits is out of range"),
    "offset-infinity": ({"offset": float("inf")}, "offset must be a whole number"),
    "offset-minus-one": ({"offset": -1}, "offset -1 is out of range: use 0 to 500"),
    "min-score-nan": ({"min_score": float("nan")}, "min score must be a number from -1 to 1"),
    "min-score-infinity": ({"min_score": float("inf")}, "not inf"),
    "min-score-text": ({"min_score": "0.5"}, "not '0.5'"),
    "min-score-1.0000001": ({"min_score": 1.0000001}, "min score 1.0000001 is out of range"),
    "include-dead-text": ({"include_dead": "yes"}, "include_dead must be true or false"),
    "query-a-number": ({"query": 5}, "the query must be text, not int"),
    "query-a-quote": ({"query": '"'}, "the query is empty"),
}


@pytest.mark.parametrize("case", list(API_VALUES), ids=list(API_VALUES))
def test_api_values_are_refused_in_one_line(handlers: SearchHandlers, case: str) -> None:
    arguments, says = API_VALUES[case]
    arguments = {"query": "a dog runs", **arguments}
    with pytest.raises(CLIENT_ERRORS) as refused:
        handlers.api_search(**arguments)
    message = str(refused.value)
    assert says in message and "\n" not in message and len(message) < 200


@pytest.mark.parametrize("k", [float("inf"), float("nan"), "5"], ids=repr)
def test_similar_refuses_the_same_values(handlers: SearchHandlers, k: object) -> None:
    gif_id = handlers.api_search("a dog runs", 1)[0]["gif_id"]
    with pytest.raises(ConfigError, match="k must be a whole number from 1 to 50"):
        handlers.api_similar(gif_id, k)  # type: ignore[arg-type]  # what a client may send


@pytest.mark.parametrize(
    "k", [float("nan"), float("inf"), float("-inf"), "12", None, 10**4999, -3, 2.5],
    ids=["nan", "inf", "minus-inf", "text-12", "none", "5000-digits", "minus-3", "2.5"],
)  # fmt: skip
def test_the_page_shows_a_notice_for_any_k_in_its_state(
    handlers: SearchHandlers, k: object
) -> None:
    view = PageView.from_state({"q": "a dog runs", "k": k})
    html, status, shown, state = handlers.show(view)
    assert shown == [] and "Could not search" in html and "k " in html
    assert "collection" in status and state["q"] == "a dog runs"


@pytest.mark.parametrize(
    ("query", "k"),
    [("?q=a+dog&k=NaN", 12), ("?q=a+dog&k=Infinity", 12), ("?q=a+dog&k=1e999", 12),
     ("?q=a+dog&k=-inf", 12), ("?q=a+dog&k=12abc", 12), ("?q=a+dog&k=-5", 1),
     ("?q=a+dog&k=" + "9" * 5000, 50)],
    ids=["nan", "infinity", "1e999", "minus-inf", "12abc", "minus-5", "5000-digits"],
)  # fmt: skip
def test_a_page_url_with_a_bad_k_keeps_the_default_or_the_nearest(query: str, k: int) -> None:
    assert view_from_url(query).k == k


@pytest.mark.parametrize("k", [float("nan"), float("inf"), "12", None], ids=repr)
def test_the_form_keeps_the_default_k_for_a_bad_one(k: object) -> None:
    assert apply_form(PageView(), "a dog", k, 0, False, False).k == PageView().k


# --- A store lost under a running server: its clients never see where it lived


@pytest.fixture
def lost_store(
    web_settings: Settings, tmp_path: Path, cached_loader: Callable
) -> tuple[SearchHandlers, Path]:
    """Handlers over a copy of the web store, whose database is then deleted."""
    store_dir = tmp_path / "served-store"
    shutil.copytree(web_settings.store_dir, store_dir)
    settings = Settings(store_dir=store_dir, cache_dir=tmp_path / "cache", model="minilm")
    handlers = SearchHandlers(SearchEngine.open(settings, loader=cached_loader))
    assert handlers.api_search("a dog runs", 3)  # it served
    (store_dir / "chroma.sqlite3").unlink()
    return handlers, store_dir


def test_a_lost_store_is_not_shown_to_api_clients(
    lost_store: tuple[SearchHandlers, Path], caplog: pytest.LogCaptureFixture
) -> None:
    handlers, store_dir = lost_store
    with caplog.at_level(logging.WARNING), pytest.raises(StoreUnavailableError) as failed:
        handlers.api_search("a dog runs", 3)
    assert str(failed.value) == SERVER_TROUBLE and str(store_dir) not in str(failed.value)
    assert "its chroma.sqlite3 is missing" in caplog.text  # the server's log says why
    with pytest.raises(StoreUnavailableError, match="can't read its collection"):
        handlers.api_similar("0" * 32, 3)
    with pytest.raises(ConfigError, match="k must be"):  # the client's own mistakes still show
        handlers.api_search("a dog runs", float("inf"))  # type: ignore[arg-type]  # a client's k


def test_a_lost_store_is_not_shown_on_the_page(lost_store: tuple[SearchHandlers, Path]) -> None:
    handlers, store_dir = lost_store
    html, status, shown, _ = handlers.show(PageView(q="a dog runs"))
    assert shown == [] and "can&#x27;t read its collection" in html
    for text in (html, status, handlers.status_line(), handlers.welcome()):
        assert str(store_dir) not in text and "chroma.sqlite3" not in text, text


# --- The same values through the launched app's REST API, as raw JSON (gradio_client
# refuses to send Infinity or NaN itself; a hostile client sends them anyway)


@pytest.mark.parametrize(
    ("k", "says"),
    [("Infinity", "not inf"), ("-Infinity", "not -inf"), ("NaN", "not nan"),
     ("1e999", "not inf"), ('"5"', "not '5'"), ("5.5", "not 5.5")],
    ids=["infinity", "minus-infinity", "nan", "1e999", "text-5", "5.5"],
)  # fmt: skip
def test_the_launched_api_refuses_bad_k_in_one_line(web_app, k: str, says: str) -> None:
    import json

    import httpx

    for endpoint, data in (("search", f'"a dog runs", {k}, 0, null, false'),
                           ("similar", f'"{"0" * 32}", {k}, 0')):  # fmt: skip
        call = httpx.post(
            f"{web_app.url}/gradio_api/call/{endpoint}",
            content=f'{{"data": [{data}]}}'.encode(),
            headers={"Content-Type": "application/json"},
        )
        assert call.status_code == 200, call.text
        event_id = call.json()["event_id"]
        stream = httpx.get(f"{web_app.url}/gradio_api/call/{endpoint}/{event_id}", timeout=60)
        assert "event: error" in stream.text and "Traceback" not in stream.text
        messages = [json.loads(line.removeprefix("data:")) for line in stream.text.splitlines()
                    if line.startswith("data:")]  # fmt: skip
        assert any("k must be a whole number from 1 to 50" in str(m) for m in messages), messages
        assert any(says in str(m) for m in messages), messages
