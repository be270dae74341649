"""Search by image in the web app: shown only for CLIP collections; cards of frame-only GIFs."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from ingest.job import IngestOptions, run_ingest
from search_app.embedders.query_embedder import load_for_settings
from search_app.embedders.sbert import Embedder
from search_app.retrieval.engine import SearchEngine
from search_app.settings import Settings
from search_app.web.app import LaunchOptions, build_app, launch_app
from search_app.web.page import PageView, SearchHandlers
from tests.chroma_server import free_port
from tests.conftest import write_tsv
from tests.frames.conftest import SET_OF_GIFS
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def clip_engine(tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path) -> SearchEngine:
    """A tiny-CLIP collection of the four GIF files, ingested from their folder."""
    root = tmp_path_factory.mktemp("frames-web")
    for name, data in SET_OF_GIFS.items():
        (root / "gifs").mkdir(exist_ok=True)
        (root / "gifs" / name).write_bytes(data)
    settings = Settings(store_dir=root / "store", cache_dir=root / "cache",
                        model=str(tiny_clip_dir), device="cpu", precision="fp32")  # fmt: skip
    run_ingest(IngestOptions(source=str(root / "gifs")), settings)
    return SearchEngine.open(settings, load_for_settings)


@pytest.fixture(scope="module")
def query_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first frame of blue-square.gif as a PNG file."""
    root = tmp_path_factory.mktemp("query")
    (root / "q.gif").write_bytes(SET_OF_GIFS["blue-square.gif"])
    Image.open(root / "q.gif").convert("RGB").save(root / "query.png")
    return root / "query.png"


def has_image_search(app: object) -> bool:
    components = app.config["components"]  # type: ignore[attr-defined]  # app is the gr.Blocks, typed object here
    return any(c["props"].get("elem_id") == "gs-image" for c in components)


def test_an_image_finds_its_gif_and_cards_show_file_names(
    clip_engine: SearchEngine, query_png: Path
) -> None:
    handlers = SearchHandlers(clip_engine)
    assert handlers.images_enabled
    html, status, hits, _ = handlers.show(PageView(image=True, k=3), Image.open(query_png))
    assert "GIFs like your image" in html and "3 shown in" in status
    assert hits[0]["url"].endswith("/blue-square.gif") and hits[0]["matched"] == ["frame"]
    assert "<img" not in html  # file:// URLs are never image sources
    assert 'blue-square.gif <span class="gs-nodesc">(no description)</span>' in html
    assert "matched: frame 1 " in html
    assert "frames" in handlers.status_line() and handlers.empty_notice() is None


def test_no_image_asks_for_one(clip_engine: SearchEngine) -> None:
    html, _, hits, _ = SearchHandlers(clip_engine).show(PageView(image=True, k=3), None)
    assert "Drop an image first" in html and hits == []


def test_image_search_is_offered_only_for_a_clip_collection(
    clip_engine: SearchEngine, tmp_path: Path, cached_loader: Callable[[str, Settings], Embedder]
) -> None:
    assert has_image_search(build_app(clip_engine))
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "c", model="minilm")
    rows = write_tsv(tmp_path / "rows.tsv", ["https://x.test/1.gif\ta dog runs\n"])
    run_ingest(IngestOptions(source=str(rows)), settings, loader=cached_loader)
    minilm = SearchEngine.open(settings, cached_loader)
    assert not SearchHandlers(minilm).images_enabled
    assert not has_image_search(build_app(minilm))


@pytest.fixture(scope="module")
def clip_app(clip_engine: SearchEngine) -> Iterator[str]:
    app = build_app(clip_engine)
    options = LaunchOptions(port=free_port(), uploads=True)
    server = launch_app(app, options, clip_engine)
    yield server.url
    server.close()


def drop_image_and_read_first_card(url: str, image: Path, text: str = "") -> dict[str, object]:
    """In headless Chromium: open url, type text (if any), drop image on the upload box,
    read the first card."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url)
        if text:
            page.locator("#gs-query textarea, #gs-query input").first.fill(text)
        page.locator("#gs-image input[type=file]").set_input_files(str(image))
        page.wait_for_selector(".gs-card", timeout=WAIT_MS)
        first = page.locator(".gs-card").first
        seen = {
            "title": first.locator(".gs-desc").inner_text(),
            "match": first.locator(".gs-match").inner_text(),
            "images": first.locator("img").count(),
            "placeholder": first.locator(".gs-placeholder").is_visible(),
            "heading": page.locator(".gs-heading").inner_text(),
        }
        browser.close()
    return seen


@pytest.mark.browser
def test_dropping_an_image_in_the_browser_shows_matching_cards(
    clip_app: str, query_png: Path
) -> None:
    # Its own thread: a sync Playwright can't start where the web tests' browser runs.
    with ThreadPoolExecutor(max_workers=1) as thread:
        seen = thread.submit(drop_image_and_read_first_card, clip_app, query_png).result()
    assert "blue-square.gif" in str(seen["title"])
    assert str(seen["match"]).startswith("matched: frame")
    assert seen["images"] == 0 and seen["placeholder"]
    assert "GIFs like your image" in str(seen["heading"])


@pytest.mark.browser
def test_an_image_dropped_next_to_typed_words_searches_both(clip_app: str, query_png: Path) -> None:
    with ThreadPoolExecutor(max_workers=1) as thread:
        seen = thread.submit(
            drop_image_and_read_first_card, clip_app, query_png, "a man is dancing"
        ).result()
    assert "GIFs like your image, but “a man is dancing”" in str(seen["heading"])


@pytest.fixture(scope="module")
def login_app(clip_engine: SearchEngine) -> Iterator[str]:
    """The CLIP collection served with a login (uploads on: it searches by image)."""
    app = build_app(clip_engine)
    options = LaunchOptions(port=free_port(), uploads=True, auth=("user", "secret-password"))
    server = launch_app(app, options, clip_engine)
    yield server.url
    server.close()


def header_only_upload(url: str, declared: int) -> bytes:
    """Send an upload's headers declaring `declared` bytes, no body; return the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /gradio_api/upload HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {declared}\r\n"
            "\r\n".encode()
        )
        return sock.recv(4096)


def test_header_only_uploads_without_a_login_spend_no_upload_budget(
    login_app: str, query_png: Path
) -> None:
    """The upload budget (256 MiB per 15 minutes) is charged by bytes received, not by a
    declared size: 40 header-only uploads declaring 10 MB each, refused for want of a
    login before a byte of their bodies is read, leave it whole for a logged-in user."""
    for _ in range(40):
        answer = header_only_upload(login_app, 10_000_000)
        assert answer.startswith(b"HTTP/1.1 401")
    with httpx.Client(base_url=login_app, timeout=30) as client:
        login = client.post("/login", data={"username": "user", "password": "secret-password"})
        assert login.status_code == 200
        upload = client.post(
            "/gradio_api/upload", files={"files": ("q.png", query_png.read_bytes(), "image/png")}
        )
        assert upload.status_code == 200, upload.text
        assert upload.json()[0].endswith("q.png")
