"""The launched app: the named search API through gradio_client, and safe launch defaults."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client

from search_app.errors import ConfigError
from search_app.web.api.keys import ApiKeys
from search_app.web.app import QUEUE_MAX_SIZE, LaunchOptions


@pytest.fixture(scope="module")
def client(web_app) -> Client:
    return Client(web_app.url, verbose=False)


def test_search_api_returns_ranked_grouped_results(client: Client) -> None:
    results = client.predict("a dog is running", 10, api_name="/search")
    assert len(results) == 10
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < s <= 1.0 for s in scores)
    assert len({r["gif_id"] for r in results}) == 10
    assert any(r["other_descriptions"] for r in results)
    for r in results:
        assert r["description"] not in r["other_descriptions"]
        assert r["url"].startswith("https://")


def test_similar_api_excludes_the_gif_itself(client: Client) -> None:
    source = client.predict("a man is dancing", 1, api_name="/search")[0]
    similar = client.predict(source["gif_id"], 5, api_name="/similar")
    assert len(similar) == 5 and source["gif_id"] not in {r["gif_id"] for r in similar}


def test_search_api_rejects_an_empty_query_in_one_line(client: Client) -> None:
    with pytest.raises(Exception, match="the query is empty"):
        client.predict("   ", 5, api_name="/search")


def test_only_search_and_similar_are_public_endpoints(client: Client) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/search", "/similar"]


def test_launch_defaults_are_local_and_bounded(web_app) -> None:
    app = web_app.app
    assert web_app.url.startswith("http://127.0.0.1:")
    assert app.server_name == "127.0.0.1"
    assert app.share is False and app.show_error is False
    assert app.enable_monitoring is False and app.allowed_paths == []
    assert app._queue.max_size == QUEUE_MAX_SIZE


@pytest.mark.parametrize(
    "path",
    ["{store}/chroma.sqlite3", "/etc/passwd", "{store}/../rows.tsv"],
    ids=["store-db", "etc-passwd", "ingested-tsv"],
)
def test_file_route_serves_neither_the_store_nor_system_files(web_app, path: str) -> None:
    target = path.format(store=web_app.settings.store_dir)
    response = httpx.get(f"{web_app.url}/gradio_api/file={target}")
    assert response.status_code in (403, 404)
    assert b"SQLite" not in response.content and b"root:" not in response.content


def test_monitoring_endpoint_is_off(web_app) -> None:
    assert httpx.get(f"{web_app.url}/gradio_api/monitoring").status_code == 404


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"], ids=["any", "lan", "any6"])
def test_public_host_needs_a_login_and_api_keys_or_insecure(host: str) -> None:
    with pytest.raises(ConfigError, match="without a password"):
        LaunchOptions(host=host)
    with pytest.raises(ConfigError, match="without API keys"):
        LaunchOptions(host=host, auth=("user", "secret"))
    keys = ApiKeys(("k" * 24,))
    assert LaunchOptions(host=host, auth=("user", "secret"), api_keys=keys).host == host
    assert LaunchOptions(host=host, insecure=True).insecure


def test_search_api_pages_floors_and_leaves_out(client: Client) -> None:
    whole = client.predict("a person", 10, api_name="/search")
    second = client.predict("a person", 5, 5, api_name="/search")
    assert [r["gif_id"] for r in second] == [r["gif_id"] for r in whole][5:]
    floor = (whole[0]["score"] + whole[-1]["score"]) / 2
    floored = client.predict("a person", 10, 0, floor, api_name="/search")
    assert floored and all(r["score"] >= floor for r in floored) and len(floored) < 10
    left_out = client.predict("a dog is running -dog", 10, api_name="/search")
    assert all("dog" not in r["description"].lower().split() for r in left_out)


@pytest.mark.parametrize(
    ("args", "message"),
    [(("a dog", 5, -1), "offset -1 is out of range"), (("a dog", 5, 0, 7.5), "min score 7.5")],
    ids=["negative-offset", "floor-out-of-range"],
)
def test_bad_api_options_are_one_line_errors(client: Client, args: tuple, message: str) -> None:
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/search")
