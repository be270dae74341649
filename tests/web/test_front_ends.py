"""One request, every front end: the CLI, the page, the gradio API and eval map their own
inputs to a SearchRequest and get the hits SearchEngine.search gives for it."""

from __future__ import annotations

import json

import pytest
from gradio_client import Client

from gifsearch.cli import main
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.probe import EvalProbe
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from search_app.web.page import PageView, SearchHandlers

TEXT = "a man is dancing -black"
K, OFFSET = 5, 2


def ids(hits: list[dict[str, object]]) -> list[object]:
    return [(hit["gif_id"], hit["description"], hit["other_descriptions"]) for hit in hits]


@pytest.fixture(scope="module")
def expected(web_engine: SearchEngine) -> list[dict[str, object]]:
    hits = web_engine.search(SearchRequest(TEXT, k=K, offset=OFFSET))
    assert len(hits) == K and hits.excluded  # "-black" leaves some GIFs out on the way
    return [hit.to_dict() for hit in hits]


def test_the_cli_maps_its_flags_to_the_same_request(
    web_settings: Settings, expected: list[dict[str, object]], capsys: pytest.CaptureFixture
) -> None:
    args = ["search", TEXT, "-k", str(K), "--offset", str(OFFSET), "--json"]
    args += ["--store", str(web_settings.store_dir)]
    # The engine under test embeds with sentence-transformers on the CPU (the session's
    # MiniLM): the CLI is told to do the same, so the vectors are the same.
    args += ["--query-backend", "sentence-transformers", "--device", "cpu"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert ids(printed) == ids(expected)
    assert [h["score"] for h in printed] == pytest.approx([h["score"] for h in expected])


def test_the_page_maps_its_view_to_the_same_request(
    web_engine: SearchEngine, expected: list[dict[str, object]]
) -> None:
    handlers = SearchHandlers(web_engine)
    first = handlers.show(PageView(q=TEXT, k=OFFSET))[2]  # the first page: OFFSET results
    _, _, shown, state = handlers.show(PageView(q=TEXT, k=K), loaded=first)  # "load more"
    assert shown[:OFFSET] == first and ids(shown[OFFSET:]) == ids(expected)
    assert PageView.from_state(state).request(offset=OFFSET) == SearchRequest(
        TEXT, k=K, offset=OFFSET
    )


def test_the_gradio_api_maps_its_arguments_to_the_same_request(
    web_app: object, expected: list[dict[str, object]]
) -> None:
    client = Client(web_app.url, verbose=False)  # type: ignore[attr-defined]  # web_app: a LaunchedApp typed object
    assert ids(client.predict(TEXT, K, OFFSET, api_name="/search")) == ids(expected)


def test_evals_default_variant_ranks_as_search_does(web_engine: SearchEngine) -> None:
    text = "a man is dancing"
    searched = [h.gif_id for h in web_engine.search(SearchRequest(text, k=10))]
    vector = web_engine.embedder.embed_query(text)
    ranked = EvalProbe(web_engine).candidates(vector, 10).rank()
    assert [g.gif_id for g in ranked[:10]] == searched
