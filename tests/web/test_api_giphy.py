"""The GIPHY v1 dialect, through the official GIPHY JavaScript client (@giphy/js-fetch-api
5.x on Node, pointed at the test server with setServerUrl) and plain HTTP for errors, over
a real store of sample rows and the real MiniLM."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from search_app.retrieval.derived import categories_of
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from tests.web.clients import run_giphy_client
from tests.web.conftest import API_KEY

QUERY = "a man is dancing"
KEY = API_KEY


@pytest.fixture(scope="module")
def client_run(keyed_app: str) -> dict:
    return run_giphy_client(f"{keyed_app}/v1/", KEY, QUERY)


@pytest.mark.client
def test_the_official_client_searches_and_pages(client_run: dict, web_engine: SearchEngine) -> None:
    expected = web_engine.search(SearchRequest(QUERY, k=10))
    first, second = client_run["search"], client_run["page2"]
    assert first["ids"] == [h.gif_id for h in expected[:5]]
    assert second["ids"] == [h.gif_id for h in expected[5:10]]
    assert first["titles"] == [h.description for h in expected[:5]]
    assert first["pagination"] == {"total_count": 6, "count": 5, "offset": 0}
    assert second["pagination"]["offset"] == 5 and second["pagination"]["count"] == 5
    assert [image["url"] for image in first["original"]] == [h.url for h in expected[:5]]
    assert first["response_id"] and first["response_id"] != second["response_id"]


@pytest.mark.client
def test_the_official_client_gets_trending_a_gif_and_gifs_by_ids(
    client_run: dict, web_engine: SearchEngine
) -> None:
    featured = web_engine.featured(4)
    assert client_run["trending"]["ids"] == [h.gif_id for h in featured]
    first = client_run["search"]["ids"][0]
    assert client_run["gif"]["id"] == first and client_run["gif"]["response_id"]
    assert client_run["gifs"]["ids"] == client_run["search"]["ids"][:3][::-1]


@pytest.mark.client
def test_the_official_client_gets_related_gifs_and_categories(
    client_run: dict, web_engine: SearchEngine
) -> None:
    first = client_run["search"]["ids"][0]
    like = web_engine.search(SearchRequest("", k=3, like=first))
    assert client_run["related"]["ids"] == [h.gif_id for h in like]
    assert client_run["related"]["response_id"]
    expected = categories_of(web_engine.store)
    got = client_run["categories"]
    assert expected and got["names"] == [c.name for c in expected]
    assert got["gifs"] == [c.gif_id for c in expected]
    assert got["encoded"] == [quote(c.search_term) for c in expected]
    assert got["response_id"]


@pytest.mark.client
def test_the_official_client_reads_a_refusal_as_an_error(client_run: dict) -> None:
    assert client_run["empty"]["status"] == 400
    assert "the query is empty" in client_run["empty"]["message"]


@pytest.mark.client
def test_the_official_client_is_refused_without_the_key(keyed_app: str) -> None:
    with pytest.raises(AssertionError, match="an API key is required|401"):
        run_giphy_client(f"{keyed_app}/v1/", "", QUERY)


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/gifs/search", {"q": "a dog"}, 401, "an API key is required"),
        ("/gifs/search", {"q": "a dog", "api_key": "x" * 20}, 403, "not valid"),
        ("/gifs/search", {"q": "a dog", "api_key": KEY, "limit": 0}, 400, "limit:"),
        ("/gifs/search", {"q": "a dog", "api_key": KEY, "offset": 5000}, 400, "offset:"),
        ("/gifs/trending", {"api_key": KEY, "limit": "ten"}, 400, "limit:"),
        (f"/gifs/{'0' * 32}", {"api_key": KEY}, 404, "Not Found"),
        ("/gifs/..%2F..%2Fetc%2Fpasswd", {"api_key": KEY}, 404, "no such endpoint"),
        ("/gifs", {"api_key": KEY}, 400, "ids:"),
    ],
    ids=["no-key", "wrong-key", "limit-0", "offset-high", "limit-text", "unknown-id", "path",
         "no-ids"],
)  # fmt: skip
def test_errors_come_in_giphys_shape(
    keyed_app: str, path: str, params: dict, status: int, message: str
) -> None:
    answer = httpx.get(f"{keyed_app}/v1{path}", params=params, timeout=30)
    assert answer.status_code == status
    body = answer.json()
    assert body["data"] == [] and body["meta"]["status"] == status
    assert message in body["meta"]["msg"] and body["meta"]["response_id"]
    assert "Traceback" not in answer.text


def test_renditions_carry_the_size_only_where_it_is_known(keyed_app: str) -> None:
    body = httpx.get(f"{keyed_app}/v1/gifs/search", params={"q": QUERY, "api_key": KEY}).json()
    images = body["data"][0]["images"]
    assert {"original", "downsized", "fixed_width", "fixed_width_small", "preview_gif"} <= set(
        images
    )
    assert images["original"]["url"].startswith("https://")
    assert "width" not in images["original"]  # the sample's GIFs were never fetched
