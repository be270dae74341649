"""The native JSON API under /api/, through a launched server over a real store of sample
rows (the real MiniLM): the same hits as SearchEngine.search, every field a card shows,
pages, lookups, more like this, keys, and one-line errors."""

from __future__ import annotations

import httpx
import pytest

from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import MAX_K, SearchRequest
from tests.web.conftest import API_KEY, LaunchedApp, get

KEY = API_KEY


@pytest.fixture(scope="module")
def api(web_app: LaunchedApp) -> str:
    return f"{web_app.url}/api"


def test_search_gives_the_engines_hits_with_every_field_a_card_shows(
    api: str, web_engine: SearchEngine
) -> None:
    answer = get(f"{api}/search", q="a man is dancing -black", limit=5, offset=2)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    expected = web_engine.search(SearchRequest("a man is dancing -black", k=5, offset=2))
    assert [g["id"] for g in body["results"]] == [h.gif_id for h in expected]
    assert [g["score"] for g in body["results"]] == pytest.approx(
        [h.score for h in expected], abs=1e-6
    )
    assert (body["offset"], body["limit"], body["next_offset"]) == (2, 5, 7)
    assert body["excluded"] == expected.excluded > 0
    first, hit = body["results"][0], expected[0]
    assert first["description"] == hit.description
    assert first["other_descriptions"] == list(hit.other_descriptions)
    assert first["url"] == first["small_url"] == hit.url  # a web GIF: its own URL
    assert first["page_url"].endswith(f"/?like={hit.gif_id}")
    assert first["link"] == {"status": "unchecked", "checked_at": None, "reason": None}
    assert first["width"] is None and first["height"] is None  # its bytes never seen
    assert first["matched"] == ["description"] and first["score_kind"] == "cosine"


def test_the_last_page_says_there_is_no_next(api: str) -> None:
    body = get(f"{api}/search", q="a person", limit=MAX_K, offset=500).json()
    assert body["next_offset"] is None and body["results"] == []


def test_gifs_by_id_and_ids_and_more_like_this(api: str, web_engine: SearchEngine) -> None:
    hits = web_engine.search(SearchRequest("a cat", k=3))
    ids = [h.gif_id for h in hits]
    one = get(f"{api}/gifs/{ids[0]}").json()
    assert one["id"] == ids[0] and one["score"] is None and one["score_kind"] == "none"
    assert {one["description"], *one["other_descriptions"]} == {
        hits[0].description, *hits[0].other_descriptions,
    }  # fmt: skip
    many = get(f"{api}/gifs", ids=f"{ids[2]},{'f' * 32},{ids[0]}").json()
    assert [g["id"] for g in many["results"]] == [ids[2], ids[0]]  # unknown ids left out
    similar = get(f"{api}/gifs/{ids[0]}/similar", limit=5).json()
    expected = web_engine.search(SearchRequest(like=ids[0], k=5))
    assert [g["id"] for g in similar["results"]] == [h.gif_id for h in expected]
    assert ids[0] not in {g["id"] for g in similar["results"]}
    liked = get(f"{api}/search", q="at night", like=ids[0], limit=5).json()
    assert ids[0] not in {g["id"] for g in liked["results"]}


def test_featured_is_a_stable_page_of_the_collection(api: str) -> None:
    first = get(f"{api}/featured", limit=6).json()
    again = get(f"{api}/featured", limit=6).json()
    assert [g["id"] for g in first["results"]] == [g["id"] for g in again["results"]]
    assert len(first["results"]) == 6 and first["next_offset"] == 6
    second = get(f"{api}/featured", limit=6, offset=6).json()
    assert not {g["id"] for g in first["results"]} & {g["id"] for g in second["results"]}


DOG = {"q": "a dog"}
BAD_REQUESTS = {  # id: (path, parameters, status, the message's start)
    "blank": ("/search", {"q": "   "}, 400, "q: String should match pattern"),
    "no-query": ("/search", {}, 400, "q: Field required"),
    "limit-high": ("/search", {**DOG, "limit": 51}, 400, "limit: Input should be less than"),
    "limit-inf": ("/search", {**DOG, "limit": "Infinity"}, 400, "limit: Input should be a valid"),
    "offset-low": ("/search", {**DOG, "offset": -1}, 400, "offset: Input should be greater"),
    "floor-nan": ("/search", {**DOG, "min_score": "NaN"}, 400, "min_score: Input should be a fin"),
    "floor-high": ("/search", {**DOG, "min_score": 1.5}, 400, "min_score: Input should be less"),
    "only-exclusions": ("/search", {"q": "-dog -cat"}, 400, "the query only leaves things out"),
    "query-long": ("/search", {"q": "x" * 1_001}, 400, "q: String should have at most 1000"),
    "like-path": ("/search", {**DOG, "like": "../etc/passwd"}, 400, "like: String should match"),
    "dead-flag": ("/search", {**DOG, "include_dead": "maybe"}, 400, "include_dead: Input should"),
    "bad-id": ("/gifs/not-an-id", {}, 400, "gif_id: String should match pattern"),
    "unknown-id": (f"/gifs/{'0' * 32}", {}, 404, "no GIF with this id"),
    "unknown-similar": (f"/gifs/{'0' * 32}/similar", {}, 404, "no GIF with this id"),
    "no-ids": ("/gifs", {"ids": ""}, 400, "ids: String should match pattern"),
    "junk-ids": ("/gifs", {"ids": "a,b"}, 400, "ids: String should match pattern"),
    "many-ids": ("/gifs", {"ids": ",".join(["0" * 32] * 101)}, 400, "ids: "),
    "no-route": ("/nowhere", {}, 404, "no such endpoint"),
}


@pytest.mark.parametrize(
    ("path", "params", "status", "message"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys()
)
def test_bad_requests_get_one_line_in_the_native_shape(
    api: str, path: str, params: dict[str, object], status: int, message: str
) -> None:
    answer = get(f"{api}{path}", **params)
    assert answer.status_code == status
    body = answer.json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    assert body["error"]["message"].startswith(message)
    assert "\n" not in body["error"]["message"] and "Traceback" not in answer.text
    assert len(answer.content) < 400  # nothing sent is echoed back


def test_only_get_is_answered(api: str) -> None:
    answer = httpx.post(f"{api}/search", params={"q": "a dog"}, timeout=30)
    assert answer.status_code == 405 and answer.json()["error"]["status"] == 405


def test_the_openapi_document_is_served_at_a_stable_path(api: str) -> None:
    document = get(f"{api}/openapi.json").json()
    assert document["info"]["title"] == "gifsearch"
    paths = set(document["paths"])
    assert {"/search", "/featured", "/gifs", "/gifs/{gif_id}", "/gifs/{gif_id}/similar"} <= paths
    assert document["servers"] == [{"url": "/api"}]
    assert "securitySchemes" not in document.get("components", {})  # no keys set: none needed


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [({}, 401, "an API key is required"), ({"X-API-Key": "wrong-" + "x" * 20}, 403, "not valid")],
    ids=["missing", "wrong"],
)
def test_with_keys_set_a_request_needs_a_valid_key(
    keyed_app: str, headers: dict[str, str], status: int, message: str
) -> None:
    answer = httpx.get(f"{keyed_app}/api/search", params={"q": "a dog"}, headers=headers)
    assert answer.status_code == status and message in answer.json()["error"]["message"]
    ok = httpx.get(f"{keyed_app}/api/search", params={"q": "a dog"}, headers={"X-API-Key": KEY})
    assert ok.status_code == 200 and ok.json()["results"]
    assert KEY not in answer.text
    document = httpx.get(f"{keyed_app}/api/openapi.json").json()
    assert document["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
