"""The Tenor v2 dialect over plain HTTP: every endpoint's documented shape, the parameters
that change results (limit, pos, media_filter, ar_range, random, searchfilter), those that
are accepted and ignored, and Tenor's error shape; a real store and the real MiniLM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from search_app.embedders.sbert import Embedder
from search_app.records import LinkState, LinkStatus
from search_app.retrieval.derived_keeper import keeper_for
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.store.client import GifStore
from search_app.web.api.keys import ApiKeys
from tests.web.conftest import LaunchedApp, filled_settings, get, launch, pick_web_lines

KEY = "tenor-test-key-0123456789"
RESULT_KEYS = {"id", "title", "content_description", "itemurl", "url", "tags", "flags",
               "hasaudio", "media_formats"}  # fmt: skip
FORMATS = {"gif", "mediumgif", "tinygif", "nanogif"}
SHAPES = {  # url -> (width, height): a wide, a square and a tall GIF
    "https://x.test/wide.gif": (600, 200),
    "https://x.test/square.gif": (300, 300),
    "https://x.test/tall.gif": (100, 400),
}


@pytest.fixture(scope="module")
def v2(web_app: LaunchedApp) -> str:
    return f"{web_app.url}/v2"


@pytest.fixture(scope="module")
def shaped(
    tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable, minilm: Embedder
) -> Iterator[str]:
    """A server over sample rows plus three GIFs whose size the link checker recorded,
    with an API key set."""
    lines = [f"{url}\ta dog runs across a field\n" for url in SHAPES] + pick_web_lines()[:60]
    settings = filled_settings(tmp_path_factory.mktemp("shapes"), lines, cached_loader)
    store = GifStore(settings)
    for gif in store.read_gif_links():
        if gif.url in SHAPES:
            width, height = SHAPES[gif.url]
            state = LinkState(LinkStatus.ALIVE, 1_700_000_000, width=width, height=height)
            store.write_link_states([(row_id, state) for row_id in gif.description_ids])
    launched = launch(settings, cached_loader, minilm, api_keys=ApiKeys((KEY,)))
    yield launched.url
    launched.close()


def test_search_answers_tenors_shape_with_the_engines_hits(
    v2: str, web_engine: SearchEngine
) -> None:
    body = get(f"{v2}/search", q="a cat jumps", limit=4).json()
    expected = web_engine.search(SearchRequest("a cat jumps", k=4))
    assert set(body) == {"results", "next"} and body["next"] == "4"
    assert [r["id"] for r in body["results"]] == [h.gif_id for h in expected]
    for result, hit in zip(body["results"], expected, strict=True):
        assert set(result) == RESULT_KEYS
        assert result["content_description"] == hit.description and result["title"] == ""
        assert result["tags"] == [] and result["flags"] == [] and result["hasaudio"] is False
        assert result["itemurl"] == result["url"] and result["url"].endswith(f"?like={hit.gif_id}")
        assert set(result["media_formats"]) == FORMATS
        gif = result["media_formats"]["gif"]
        assert gif == {"url": hit.url, "dims": []}  # never fetched: no size, bytes or duration


def test_pos_takes_back_next_and_the_pages_continue(v2: str) -> None:
    whole = [r["id"] for r in get(f"{v2}/search", q="a person", limit=10).json()["results"]]
    first = get(f"{v2}/search", q="a person", limit=5).json()
    second = get(f"{v2}/search", q="a person", limit=5, pos=first["next"]).json()
    assert [r["id"] for r in first["results"] + second["results"]] == whole
    assert second["next"] == "10"
    last = get(f"{v2}/search", q="a person", limit=50, pos="500").json()
    assert last == {"results": [], "next": ""}


def test_media_filter_lists_only_the_formats_asked_for(v2: str) -> None:
    body = get(f"{v2}/search", q="a dog", limit=2, media_filter="tinygif,mp4").json()
    assert all(set(r["media_formats"]) == {"tinygif"} for r in body["results"])  # no mp4 here


def test_random_orders_the_same_page_at_random(v2: str) -> None:
    plain = [r["id"] for r in get(f"{v2}/search", q="a person", limit=20).json()["results"]]
    orders = {
        tuple(r["id"] for r in get(f"{v2}/search", q="a person", limit=20, random="true")
              .json()["results"])
        for _ in range(3)
    }  # fmt: skip
    assert all(sorted(order) == sorted(plain) for order in orders)
    assert any(list(order) != plain for order in orders)  # 3 shuffles of 20 all in order: ~1e-55


def test_stickers_are_asked_for_and_there_are_none(v2: str) -> None:
    assert get(f"{v2}/search", q="a dog", searchfilter="sticker").json() == {
        "results": [], "next": ""
    }  # fmt: skip


def test_accepted_and_ignored_parameters_change_nothing(v2: str) -> None:
    plain = get(f"{v2}/search", q="a dog", limit=5).json()["results"]
    ignored = {"client_key": "my-app", "country": "DE", "locale": "de_DE", "contentfilter": "high"}
    assert get(f"{v2}/search", q="a dog", limit=5, **ignored).json()["results"] == plain


def test_ar_range_keeps_the_shapes_asked_for_and_the_unknown_ones(shaped: str) -> None:
    def urls(ar_range: str) -> set[str]:
        body = get(f"{shaped}/v2/search", q="a dog runs across a field", limit=20, key=KEY,
                   ar_range=ar_range).json()  # fmt: skip
        return {r["media_formats"]["gif"]["url"] for r in body["results"]}

    assert set(SHAPES) <= urls("all")
    wide = urls("wide")  # 0.42 .. 2.36: the square one only (3.0 and 0.25 are outside)
    assert "https://x.test/square.gif" in wide
    assert not {"https://x.test/wide.gif", "https://x.test/tall.gif"} & wide
    assert len(wide) == 20  # the page is still full: GIFs whose size was never seen are kept


def test_dims_are_given_where_the_size_is_known(shaped: str) -> None:
    body = get(f"{shaped}/v2/search", q="a dog runs across a field", limit=3, key=KEY).json()
    dims = {r["media_formats"]["gif"]["url"]: r["media_formats"]["gif"]["dims"]
            for r in body["results"]}  # fmt: skip
    assert dims == {url: list(size) for url, size in SHAPES.items()}


def test_featured_and_posts(v2: str, web_engine: SearchEngine) -> None:
    featured = get(f"{v2}/featured", limit=5).json()
    assert [r["id"] for r in featured["results"]] == [h.gif_id for h in web_engine.featured(5)]
    assert featured["next"] == "5"
    more = get(f"{v2}/featured", limit=5, pos=featured["next"]).json()
    assert not {r["id"] for r in featured["results"]} & {r["id"] for r in more["results"]}
    ids = [r["id"] for r in featured["results"][:3]]
    posts = get(f"{v2}/posts", ids=",".join(reversed(ids))).json()
    assert set(posts) == {"results"} and [r["id"] for r in posts["results"]] == ids[::-1]
    assert all(set(r) == RESULT_KEYS for r in posts["results"])


def test_categories_completion_and_suggestions_come_from_the_collection(
    v2: str, web_app: LaunchedApp
) -> None:
    keeper = keeper_for(web_app.engine)
    held = keeper.wait(120)
    assert held is not None and held.categories
    answer = get(f"{v2}/categories", locale="de_DE").json()
    assert set(answer) == {"locale", "tags"} and answer["locale"] == "de_DE"
    tags = answer["tags"]
    assert [tag["searchterm"] for tag in tags] == [c.search_term for c in held.categories]
    assert [tag["name"] for tag in tags] == [f"#{c.name}" for c in held.categories]
    assert all(set(tag) == {"searchterm", "path", "image", "name"} for tag in tags)
    gifs = {gif.gif_id: gif.url for gif in web_app.engine.gifs([c.gif_id for c in held.categories])}
    assert [tag["image"] for tag in tags] == [gifs[c.gif_id] for c in held.categories]
    followed = httpx.get(f"{web_app.url}{tags[0]['path']}", timeout=30).json()  # a search
    expected = web_app.engine.search(SearchRequest(held.categories[0].search_term, k=20))
    assert [r["id"] for r in followed["results"]] == [h.gif_id for h in expected]
    completed = get(f"{v2}/autocomplete", q="a man", limit=5).json()
    assert completed == {"locale": "en_US", "results": keeper.complete("a man", 5)}
    assert completed["results"] and all(t.lower().startswith("a man") for t in completed["results"])
    related = get(f"{v2}/search_suggestions", q="a dog runs", limit=4).json()
    assert related["results"] == keeper.suggestions("a dog runs", 4) and related["results"]


@pytest.mark.parametrize(
    ("path", "params", "status", "name", "message"),
    [
        ("/search", {"q": "a dog"}, 401, "UNAUTHENTICATED", "an API key is required"),
        ("/search", {"q": "a dog", "key": "x" * 20}, 403, "PERMISSION_DENIED", "not valid"),
        ("/search", {"q": "", "key": KEY}, 400, "INVALID_ARGUMENT", "the query is empty"),
        ("/search", {"q": "a", "key": KEY, "limit": 51}, 400, "INVALID_ARGUMENT", "limit:"),
        ("/search", {"q": "a", "key": KEY, "pos": "-3"}, 400, "INVALID_ARGUMENT", "pos is not"),
        ("/search", {"q": "a", "key": KEY, "pos": "9999"}, 400, "INVALID_ARGUMENT", "pos is not"),
        ("/search", {"q": "a", "key": KEY, "ar_range": "tall"}, 400, "INVALID_ARGUMENT",
         "ar_range:"),
        ("/search", {"q": "a", "key": KEY, "contentfilter": "x"}, 400, "INVALID_ARGUMENT",
         "contentfilter:"),
        ("/search", {"q": "a", "key": KEY, "random": "perhaps"}, 400, "INVALID_ARGUMENT",
         "random:"),
        ("/featured", {"key": KEY, "limit": 0}, 400, "INVALID_ARGUMENT", "limit:"),
        ("/posts", {"key": KEY}, 400, "INVALID_ARGUMENT", "ids:"),
        ("/posts", {"key": KEY, "ids": "nope"}, 400, "INVALID_ARGUMENT", "is not a GIF id"),
        ("/gifs", {"key": KEY}, 404, "NOT_FOUND", "no such endpoint"),
        ("/categories", {"key": KEY, "type": "new"}, 400, "INVALID_ARGUMENT", "type:"),
        ("/autocomplete", {"key": KEY}, 400, "INVALID_ARGUMENT", "q:"),
        ("/autocomplete", {"key": KEY, "q": "a", "limit": 51}, 400, "INVALID_ARGUMENT",
         "limit:"),
        ("/search_suggestions", {"key": KEY, "q": "x" * 1001}, 400, "INVALID_ARGUMENT", "q:"),
        ("/categories", {}, 401, "UNAUTHENTICATED", "an API key is required"),
    ],
    ids=["no-key", "wrong-key", "empty", "limit", "pos-negative", "pos-far", "ar-range",
         "contentfilter", "random", "featured-limit", "posts-no-ids", "posts-bad-id", "no-route",
         "categories-type", "autocomplete-no-q", "autocomplete-limit", "suggestions-long",
         "categories-no-key"],
)  # fmt: skip
def test_errors_come_in_tenors_shape(
    shaped: str, path: str, params: dict, status: int, name: str, message: str
) -> None:
    answer = get(f"{shaped}/v2{path}", **params)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (status, name) and message in error["message"]
    assert "Traceback" not in answer.text and len(answer.content) < 400


def test_a_tenor_client_in_the_browser_may_read_the_api(shaped: str, tmp_path: Path) -> None:
    answer = httpx.get(f"{shaped}/v2/featured", params={"key": KEY, "limit": 1},
                       headers={"Origin": "https://chat.example"})  # fmt: skip
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"
