"""Learning from use, through a launched server over its own store (its own usage file):
shares from Tenor's registershare and the native API, the trending order they give, the
ranking that remembers them, trending terms, the page's "Recently shared" row, and the
tool for assistants (MCP) through the official `mcp` client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

from search_app.embedders.sbert import Embedder
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.store.usage import UsageLog, usage_path
from search_app.web.api.keys import ApiKeys
from search_app.web.page import SearchHandlers
from tests.web.conftest import LaunchedApp, filled_settings, launch, pick_web_lines

KEY = "usage-test-key-0123456789"


@pytest.fixture
def served(
    tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable, minilm: Embedder
) -> Iterator[tuple[LaunchedApp, SearchEngine]]:
    """A fresh store of sample rows, served with a key and the MCP tool; and an engine."""
    settings = filled_settings(tmp_path_factory.mktemp("usage"), pick_web_lines(), cached_loader)
    launched = launch(settings, cached_loader, minilm, api_keys=ApiKeys((KEY,)), mcp=True)
    yield launched, SearchEngine.open(settings, cached_loader)
    launched.close()


def get(url: str, **params: object) -> httpx.Response:
    return httpx.get(url, params={**params, "key": KEY}, headers={"X-API-Key": KEY}, timeout=30)


def test_a_shared_gif_ranks_higher_for_a_close_query_and_leads_trending(
    served: tuple[LaunchedApp, SearchEngine],
) -> None:
    app, engine = served
    query = "a man is dancing on a stage"
    before = [g["id"] for g in get(f"{app.url}/api/search", q=query, limit=10).json()["results"]]
    target = before[3]  # a GIF that matches well, but not first
    answer = httpx.post(
        f"{app.url}/api/gifs/{target}/share",
        params={"q": query},
        headers={"X-API-Key": KEY},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.json() == {"id": target, "query": query}
    close = get(f"{app.url}/api/search", q="a man dancing on the stage", limit=10).json()
    ids = [g["id"] for g in close["results"]]
    assert ids.index(target) < before.index(target)  # ranked higher the next time
    assert next(g for g in close["results"] if g["id"] == target)["remembered"] is True
    unrelated = get(f"{app.url}/api/search", q="a cat sleeps on a sofa", limit=10).json()
    assert not any(g["remembered"] for g in unrelated["results"])
    featured = get(f"{app.url}/v2/featured", limit=3).json()
    assert featured["results"][0]["id"] == target  # shared: first in what's trending
    assert engine.featured(3)[0].gif_id == target  # the same file, another engine


def test_registershare_records_a_share_but_not_a_page_load(
    served: tuple[LaunchedApp, SearchEngine],
) -> None:
    app, engine = served
    gif_id = engine.featured(5)[4].gif_id
    loaded = httpx.get(
        f"{app.url}/v2/registershare",
        params={"id": gif_id, "key": KEY},
        headers={"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"},
    )
    assert loaded.status_code == 403 and loaded.json()["error"]["status"] == "PERMISSION_DENIED"
    assert get(f"{app.url}/v2/registershare", id=gif_id, q="a dog").json() == {}
    assert engine.recent_shares(1)[0].gif_id == gif_id
    unknown = get(f"{app.url}/v2/registershare", id="0" * 32)
    assert unknown.status_code == 400 and "no GIF with id" in unknown.json()["error"]["message"]
    assert httpx.get(f"{app.url}/v2/registershare", params={"id": gif_id}).status_code == 401


def test_trending_terms_are_the_most_searched_queries(
    served: tuple[LaunchedApp, SearchEngine],
) -> None:
    app, _ = served
    for query in ["a cat jumps", "a dog runs", "a cat jumps", "a cat jumps", "a dog runs", "x"]:
        assert get(f"{app.url}/v2/search", q=query, limit=2).status_code == 200
    get(f"{app.url}/v2/search", q="a bird flies", limit=2, pos="2")  # a next page: not counted
    terms = get(f"{app.url}/v2/trending_terms", limit=2).json()
    assert terms == {"locale": "en_US", "results": ["a cat jumps", "a dog runs"]}


def test_the_usage_is_kept_beside_the_store_and_clearable(
    served: tuple[LaunchedApp, SearchEngine],
) -> None:
    app, engine = served
    gif_id = engine.featured(1)[0].gif_id
    get(f"{app.url}/v2/registershare", id=gif_id, q="a dog")
    path = usage_path(app.settings)
    assert path.parent == app.settings.store_dir and path.is_file()
    usage = UsageLog.for_settings(app.settings)
    assert usage.counts()[0] == 1
    assert usage.clear()[0] == 1 and usage.counts() == (0, 0)
    assert engine.recent_shares(5) == []


def test_the_page_opens_on_what_was_shared(served: tuple[LaunchedApp, SearchEngine]) -> None:
    app, engine = served
    handlers = SearchHandlers(engine)
    assert "Recently shared" not in handlers.welcome()
    gif_id = engine.search(SearchRequest("a woman laughs", k=1))[0].gif_id
    engine.remember_share(gif_id, "a woman laughs")
    welcome = handlers.welcome()
    assert "Recently shared" in welcome and f'data-gif-id="{gif_id}"' in welcome


async def mcp_calls(url: str, key: str) -> dict[str, Any]:
    """List the tools and call each, through the official MCP client."""
    async with (
        create_mcp_http_client(headers={"X-API-Key": key}) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = await session.list_tools()
        found = await session.call_tool("search_gifs", {"query": "a dog runs", "limit": 3})
        first = found.structured_content["result"][0]  # type: ignore[index]  # the tool's list
        one = await session.call_tool("get_gif", {"gif_id": first["id"]})
        like = await session.call_tool("similar_gifs", {"gif_id": first["id"], "limit": 2})
        bad = await session.call_tool("search_gifs", {"query": "a dog", "limit": 500})
        return {
            "tools": sorted(t.name for t in tools.tools),
            "found": found,
            "one": one,
            "like": like,
            "bad": bad,
        }


def test_assistants_search_through_the_mcp_tool(served: tuple[LaunchedApp, SearchEngine]) -> None:
    app, engine = served
    # its own thread: a browser test's sync Playwright may hold this thread's event loop
    with ThreadPoolExecutor(1) as thread:
        calls = thread.submit(asyncio.run, mcp_calls(app.url, KEY)).result()
    assert calls["tools"] == ["get_gif", "search_gifs", "similar_gifs"]
    found = calls["found"].structured_content["result"]
    expected = engine.search(SearchRequest("a dog runs", k=3))
    assert [g["id"] for g in found] == [h.gif_id for h in expected]
    assert found[0]["url"] == expected[0].url and found[0]["description"]
    assert calls["one"].structured_content["id"] == found[0]["id"]
    similar = calls["like"].structured_content["result"]
    assert len(similar) == 2 and found[0]["id"] not in {g["id"] for g in similar}
    assert calls["bad"].is_error and "k 500 is out of range" in str(calls["bad"].content)


def test_the_mcp_tool_needs_the_key(served: tuple[LaunchedApp, SearchEngine]) -> None:
    app, _ = served
    refused = httpx.post(f"{app.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert refused.status_code == 401 and "API key" in refused.json()["error"]["message"]
    wrong = httpx.post(f"{app.url}/mcp", json={}, headers={"Authorization": "Bearer " + "x" * 20})
    assert wrong.status_code == 403


def test_without_the_flag_there_is_no_mcp_tool(web_app: LaunchedApp) -> None:
    assert httpx.post(f"{web_app.url}/mcp", json={}, timeout=30).status_code in (404, 405)
