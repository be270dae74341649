"""The guard in front of the app: no writes from other websites (tried from a real page on
another local origin, as the attack was made), no uploads where nothing uploads, capped
request bodies, and frame/sniffing headers on every response."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from search_app.retrieval.engine import HitList, SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.web.app import LaunchOptions, build_app, launch_app
from tests.chroma_server import free_port
from tests.local_http import body_route, serve_handlers
from tests.web.conftest import LaunchedApp

# A page on another origin: it tries to upload a file and to run a search, with no-cors
# requests (which CORS does not stop from being sent) and a JSON one (preflighted, and
# gradio's CORS allows a localhost origin), then says it is done.
ATTACK_PAGE = """<!doctype html><title>elsewhere</title><body><script>
const target = %s, name = %s;
async function attack() {
  const form = new FormData();
  form.append("files", new Blob([name.repeat(100)], {type: "image/png"}), name);
  const tries = [
    fetch(target + "/gradio_api/upload", {method: "POST", mode: "no-cors", body: form}),
    fetch(target + "/gradio_api/call/search", {method: "POST", mode: "no-cors",
      headers: {"Content-Type": "text/plain"},
      body: JSON.stringify({data: ["cross site marker query", 5]})}),
    fetch(target + "/gradio_api/call/search", {method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({data: ["cross site marker query", 5]})}),
  ];
  await Promise.allSettled(tries);
  document.title = "done";
}
attack();
</script></body>"""


def upload_folder() -> Path:
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def files_in(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


@pytest.fixture(scope="module")
def watched_app(web_settings, cached_loader) -> Iterator[tuple[str, list[str]]]:
    """The app over the web store, its engine's searches recorded (and run for real)."""
    engine = SearchEngine.open(web_settings, cached_loader)
    asked: list[str] = []
    search = engine.search

    def recorded(request: SearchRequest) -> HitList:
        asked.append(request.text)
        return search(request)

    engine.search = recorded  # type: ignore[method-assign]  # a recording double replaces search
    app = build_app(engine)
    server = launch_app(app, LaunchOptions(port=free_port()), engine)
    yield server.url, asked
    server.close()


def test_a_page_on_another_origin_can_neither_upload_nor_search(
    watched_app: tuple[str, list[str]], page
) -> None:
    url, asked = watched_app
    name = f"evil-{uuid.uuid4().hex}.png"  # a name no earlier run wrote
    attack = ATTACK_PAGE % (json.dumps(url), json.dumps(name))
    route = body_route(attack.encode(), content_type="text/html; charset=utf-8")
    with serve_handlers({"/attack.html": route}) as (elsewhere, _):
        page.goto(f"{elsewhere}/attack.html")
        page.wait_for_function("document.title === 'done'", timeout=20_000)
    assert not [p for p in files_in(upload_folder()) if p.name == name]  # nothing written
    call = httpx.post(
        f"{url}/gradio_api/call/search", json={"data": ["a dog", 3, 0, None, False]}, timeout=20
    )
    event = httpx.get(f"{url}/gradio_api/call/search/{call.json()['event_id']}", timeout=20)
    assert "event: complete" in event.text
    assert asked == ["a dog"]  # the page's search never ran; a same-machine client's did


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/gradio_api/upload", {"Origin": "http://127.0.0.1:9"}),
        ("/gradio_api/call/search", {"Origin": "http://evil.test"}),
        ("/gradio_api/queue/join", {"Origin": "null"}),
        ("/gradio_api/call/search", {"Sec-Fetch-Site": "cross-site"}),
    ],
    ids=["upload-other-port", "call-other-host", "queue-null-origin", "fetch-site"],
)
def test_cross_site_writes_are_refused(web_app: LaunchedApp, path: str, headers: dict) -> None:
    answer = httpx.post(
        web_app.url + path,
        json={"data": ["a dog", 5]},
        headers=headers,
        timeout=20,
    )
    assert answer.status_code == 403 and "cross-site" in answer.text


def test_same_origin_and_non_browser_calls_still_work(web_app: LaunchedApp) -> None:
    for headers in ({"Origin": web_app.url}, {}):
        call = httpx.post(
            f"{web_app.url}/gradio_api/call/search",
            json={"data": ["a dog is running", 3, 0, None, False]},
            headers=headers,
            timeout=20,
        )
        assert call.status_code == 200 and "event_id" in call.json()


def test_a_collection_that_cannot_search_by_image_takes_no_uploads(web_app: LaunchedApp) -> None:
    before = files_in(upload_folder())
    answer = httpx.post(
        f"{web_app.url}/gradio_api/upload",
        files={"files": ("a.png", b"\x89PNG" + b"x" * 1000, "image/png")},
        timeout=20,
    )
    assert answer.status_code == 403 and "no uploads" in answer.text
    assert files_in(upload_folder()) == before


@pytest.mark.parametrize(
    "body",
    [b'{"data": ["' + b"a dog runs " * 1_000_000 + b'", 5]}'],
    ids=["ten-megabyte-query"],
)
def test_an_oversized_request_body_is_refused_before_it_is_read(
    web_app: LaunchedApp, body: bytes
) -> None:
    answer = httpx.post(
        f"{web_app.url}/gradio_api/call/search",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=20,
    )
    assert answer.status_code == 413 and len(answer.content) < 200
    assert httpx.get(web_app.url, timeout=20).status_code == 200  # still up


def test_every_response_keeps_the_page_out_of_other_sites_frames(web_app: LaunchedApp) -> None:
    for path in ("/", "/gradio_api/info", "/no-such-page"):
        headers = httpx.get(web_app.url + path, timeout=20).headers
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
