"""The server's outer guards, through a launched server: a Host allow-list, CORS on the API
paths only, a bounded number of searches at once, deadlines for request headers, and a cap
on open connections; and a folder source's GIF files served by id only."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from ingest.job import IngestOptions, run_ingest
from search_app.embedders.query_embedder import load_for_settings
from search_app.retrieval.engine import SearchEngine
from search_app.settings import Settings
from search_app.web import server as http_server
from search_app.web.api.context import ApiContext
from search_app.web.api.gate import allowed_hosts, build_gate
from search_app.web.api.limits import Slots
from search_app.web.api.media import MediaLibrary, small_size
from search_app.web.app import LaunchOptions, build_app, launch_app
from search_app.web.guard import GuardLimits
from tests.chroma_server import free_port
from tests.frames.conftest import SET_OF_GIFS
from tests.web.conftest import LaunchedApp

HOST_CASES = {  # Host header -> status: loopback names pass, others (DNS rebinding) don't
    "127.0.0.1": 200,
    "localhost": 200,
    "rebind.example": 400,
    "127.0.0.1.nip.io": 400,
}


@pytest.mark.parametrize("path", ["/", "/api/search?q=a+dog", "/v1/gifs/trending"])
@pytest.mark.parametrize("host", HOST_CASES)
def test_only_allowed_host_names_are_answered(web_app: LaunchedApp, path: str, host: str) -> None:
    port = web_app.url.rsplit(":", 1)[1]
    headers = {"Host": f"{host}:{port}", "Origin": f"http://{host}:{port}"}
    answer = httpx.get(f"{web_app.url}{path}", headers=headers, timeout=30)
    assert answer.status_code == HOST_CASES[host]


def test_the_allowed_hosts_follow_the_bind_address_and_the_names_given() -> None:
    assert allowed_hosts("127.0.0.1") == ["127.0.0.1", "localhost", "::1", "[::1]"]
    assert "192.168.1.20" in allowed_hosts("192.168.1.20")
    assert allowed_hosts("0.0.0.0") == ["*"]  # a public bind: the login and keys guard it
    assert "gifs.example.org" in allowed_hosts("0.0.0.0", ("gifs.example.org",))
    assert "*" not in allowed_hosts("0.0.0.0", ("gifs.example.org",))


def test_other_sites_may_read_the_api_but_not_the_page(web_app: LaunchedApp) -> None:
    origin = {"Origin": "https://chat.example"}
    api = httpx.get(f"{web_app.url}/api/featured", headers=origin, timeout=30)
    assert api.headers["access-control-allow-origin"] == "*"
    assert api.headers["cross-origin-resource-policy"] == "cross-origin"
    preflight = httpx.options(
        f"{web_app.url}/v2/search",
        headers={**origin, "Access-Control-Request-Method": "GET"},
        timeout=30,
    )
    assert (
        preflight.status_code == 200 and "GET" in preflight.headers["access-control-allow-methods"]
    )
    page = httpx.get(f"{web_app.url}/", headers=origin, timeout=30)
    assert "access-control-allow-origin" not in page.headers
    assert page.headers["cross-origin-resource-policy"] == "same-origin"
    write = httpx.options(
        f"{web_app.url}/api/search",
        headers={**origin, "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert write.status_code == 400  # only GET may be asked for from another site


@pytest.fixture(scope="module")
def bounded(web_engine: SearchEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The API alone (no page) over the web store, with one search at a time and no queue."""
    media = MediaLibrary(tmp_path_factory.mktemp("media"))
    context = ApiContext(web_engine, media, slots=Slots(running=1, waiting=0))
    gate = build_gate(context, GuardLimits(), allowed_hosts("127.0.0.1"))
    server = http_server.start_server(gate, "127.0.0.1", free_port())
    yield server.url, context
    server.close()


@pytest.mark.parametrize(
    ("path", "read"),
    [
        ("/api/search?q=a+dog", lambda body: body["error"]["status"]),
        ("/v1/gifs/search?q=a+dog", lambda body: body["meta"]["status"]),
        ("/v2/search?q=a+dog", lambda body: body["error"]["code"]),
    ],
    ids=["native", "giphy", "tenor"],
)
def test_overload_is_refused_at_once_in_each_dialect(
    bounded: tuple, path: str, read: Callable
) -> None:
    url, context = bounded
    with context.slots.slot():  # the one search slot is taken
        started = time.monotonic()
        answer = httpx.get(f"{url}{path}", timeout=30)
        assert answer.status_code == 429 and read(answer.json()) == 429
        assert time.monotonic() - started < 2.0  # at once, not queued
    assert httpx.get(f"{url}{path}", timeout=30).status_code == 200  # free again


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes sock (recv gives b"") within seconds."""
    sock.settimeout(seconds)
    try:
        while True:
            if sock.recv(65536) == b"":
                return True
    except TimeoutError:
        return False
    except OSError:  # a reset counts as closed
        return True


def test_a_connection_must_send_its_headers_in_time(
    bounded: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_server, "HEADER_TIMEOUT_S", 1.0)
    url = bounded[0]
    host, port = url.removeprefix("http://").split(":")
    idle = socket.create_connection((host, int(port)))
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"GET /api/featured HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
    assert closed_within(idle, 5.0) and closed_within(slow, 5.0)
    # A keep-alive connection whose next request trickles in is closed too.
    kept = socket.create_connection((host, int(port)))
    kept.sendall(b"GET /api/featured?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    kept.settimeout(10)
    assert b"200 OK" in kept.recv(65536)
    kept.sendall(b"GET /api/featured HTTP/1.1\r\n")
    assert closed_within(kept, 5.0)
    assert httpx.get(f"{url}/api/featured?limit=1", timeout=30).status_code == 200


def test_connections_past_the_cap_are_closed_as_they_come(
    bounded: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_server, "MAX_CONNECTIONS", 20)
    url = bounded[0]
    host, port = url.removeprefix("http://").split(":")
    held = [socket.create_connection((host, int(port))) for _ in range(20)]
    time.sleep(0.5)
    extra = [socket.create_connection((host, int(port))) for _ in range(20)]
    assert all(closed_within(sock, 3.0) for sock in extra)
    assert not any(closed_within(sock, 0.2) for sock in held[:3])  # the first ones stay
    for sock in held:
        sock.close()
    time.sleep(0.5)
    assert httpx.get(f"{url}/api/featured?limit=1", timeout=30).status_code == 200


@pytest.fixture(scope="module")
def folder_app(tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path) -> Iterator:
    """A tiny-CLIP collection of four GIF files, ingested from their folder, served."""
    root = tmp_path_factory.mktemp("folder-api")
    (root / "gifs").mkdir()
    for name, data in SET_OF_GIFS.items():
        (root / "gifs" / name).write_bytes(data)
    big = Image.new("RGB", (480, 240), "#0ea5e9")
    frames = [big, Image.new("RGB", (480, 240), "#f97316")]
    frames[0].save(root / "gifs" / "wide.gif", save_all=True, append_images=frames[1:],
                   duration=120, loop=0)  # fmt: skip
    settings = Settings(store_dir=root / "store", cache_dir=root / "cache",
                        model=str(tiny_clip_dir), device="cpu", precision="fp32")  # fmt: skip
    run_ingest(IngestOptions(source=str(root / "gifs")), settings)
    engine = SearchEngine.open(settings, load_for_settings)
    server = launch_app(build_app(engine), LaunchOptions(port=free_port()), engine)
    yield server.url, root
    server.close()


def test_a_folder_gifs_file_and_small_rendition_are_served_by_id(folder_app: tuple) -> None:
    url, root = folder_app
    body = httpx.get(f"{url}/api/featured", params={"limit": 10}, timeout=30).json()
    wide = next(g for g in body["results"] if g["description"] == "" and g["width"] == 480)
    assert (wide["width"], wide["height"]) == (480, 240)
    assert wide["url"] == f"{url}/media/{wide['id']}.gif"
    original = httpx.get(wide["url"], timeout=30)
    assert original.status_code == 200 and original.headers["content-type"] == "image/gif"
    assert original.content == (root / "gifs" / "wide.gif").read_bytes()
    small = httpx.get(wide["small_url"], timeout=30)
    assert small.status_code == 200 and small.content[:6] == b"GIF89a"
    with Image.open(io.BytesIO(small.content)) as image:
        assert image.size == small_size(480, 240) == (200, 100)
        assert getattr(image, "n_frames", 1) == 2  # still animated
    renditions = list((root / "cache" / "renditions").glob("*.gif"))
    assert len(renditions) == 1  # made once, cached
    again = httpx.get(wide["small_url"], timeout=30)
    assert again.content == small.content
    tenor = httpx.get(f"{url}/v2/posts", params={"ids": wide["id"]}, timeout=30).json()
    gif = tenor["results"][0]["media_formats"]["gif"]
    assert gif["dims"] == [480, 240] and gif["size"] == len(original.content)
    assert gif["duration"] == pytest.approx(0.24)


@pytest.mark.parametrize(
    "path",
    ["/media/../store/chroma.sqlite3", "/media/%2e%2e%2fstore%2fchroma.sqlite3",
     "/media/" + "0" * 32 + ".gif", "/media/not-an-id.gif", "/media/etc/passwd"],
    ids=["dotdot", "encoded", "unknown-id", "bad-id", "path"],
)  # fmt: skip
def test_media_is_served_by_id_only(folder_app: tuple, path: str) -> None:
    url, _ = folder_app
    answer = httpx.get(f"{url}{path}", timeout=30)
    assert answer.status_code in (400, 404)
    assert b"SQLite" not in answer.content and b"root:" not in answer.content


def test_a_web_gif_has_no_file_here(web_app: LaunchedApp, web_engine: SearchEngine) -> None:
    gif_id = web_engine.featured(1)[0].gif_id
    answer = httpx.get(f"{web_app.url}/media/{gif_id}.gif", timeout=30)
    assert answer.status_code == 404 and "no GIF file" in answer.json()["error"]["message"]
