"""Web fixtures: real stores filled by run_ingest, launched apps on free ports, Chromium."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from search_app.embedders.sbert import Embedder
from search_app.retrieval.derived_keeper import keeper_for
from search_app.retrieval.engine import SearchEngine
from search_app.settings import Settings
from search_app.web.api.keys import ApiKeys
from search_app.web.page import SearchHandlers
from search_app.web.server import RunningServer
from tests.chroma_server import free_port
from tests.conftest import SAMPLE_LINES, filled_settings
from tests.local_http import body_route, serve_handlers, serve_routes

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
MULTI_DESCRIPTION_GIFS = 90  # GIFs with 2+ descriptions in the web store (~230 rows)
SINGLE_DESCRIPTION_GIFS = 60

# Rows anyone could write into a TSV: script and markup in descriptions, a URL that tries
# to break out of its attribute and a javascript: URL (the reader drops both as bad_url).
XSS_LINES = [
    "https://xss.invalid/1.gif\ta cat <img src=x onerror=alert(1)> jumps on a bed\n",
    "https://xss.invalid/2.gif\ta cat <script>window.__pwned=1</script> jumps off a sofa\n",
    'https://xss.invalid/3.gif\ta cat "><svg onload=alert(1)> jumps over a fence\n',
    'https://xss.invalid/4.gif?"><svg/onload=alert(1)>\ta cat jumps into a box\n',
    "javascript:alert(1)\ta cat jumps through a hoop\n",
]


def pick_web_lines() -> list[str]:
    """Real sample rows: every description of some multi-description GIFs, plus singles."""
    by_url: dict[str, list[str]] = {}
    for line in SAMPLE_LINES:
        by_url.setdefault(line.split("\t", 1)[0], []).append(line)
    multi = [rows for rows in by_url.values() if len(rows) > 1][:MULTI_DESCRIPTION_GIFS]
    single = [rows for rows in by_url.values() if len(rows) == 1][:SINGLE_DESCRIPTION_GIFS]
    return [line for rows in multi + single for line in rows]


@dataclass(frozen=True)
class LaunchedApp:
    """A launched app: its URL, the Blocks object, the settings of its store and the
    running server."""

    url: str
    app: object
    settings: Settings
    server: RunningServer
    engine: SearchEngine

    def close(self) -> None:
        """Stop the server."""
        self.server.close()


def launch(
    settings: Settings,
    loader: Callable,
    minilm: Embedder,
    queue_max_size: int | None = None,
    **more: object,
) -> LaunchedApp:
    """Build and launch the web app on a free localhost port, without blocking (more:
    further LaunchOptions)."""
    from gifsearch.exercise_tab import ExerciseHandlers, exercises_tab
    from search_app.web.app import QUEUE_MAX_SIZE, LaunchOptions, build_app, launch_app

    engine = SearchEngine.open(settings, loader)
    tab = exercises_tab(ExerciseHandlers(lambda: minilm.model))
    app = build_app(engine, extra_tabs=[tab])
    options = LaunchOptions(
        port=free_port(),
        blocked_paths=(str(settings.store_dir),),
        queue_max_size=queue_max_size or QUEUE_MAX_SIZE,
        **more,  # type: ignore[arg-type]  # LaunchOptions' own fields, checked by it
    )
    server = launch_app(app, options, engine)
    return LaunchedApp(server.url, app, settings, server, engine)


@pytest.fixture
def empty_settings(tmp_path: Path) -> Settings:
    """Settings for a fresh embedded store under tmp_path (nothing created yet)."""
    return Settings(
        store_dir=tmp_path / "store", cache_dir=tmp_path / "cache", model="minilm", device="cpu"
    )


@pytest.fixture(scope="session")
def web_settings(tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable) -> Settings:
    """A real store of ~300 sample rows, many GIFs with several descriptions."""
    return filled_settings(tmp_path_factory.mktemp("web"), pick_web_lines(), cached_loader)


@pytest.fixture(scope="session")
def web_engine(web_settings: Settings, cached_loader: Callable) -> SearchEngine:
    """A SearchEngine over the web store, with the session's MiniLM."""
    return SearchEngine.open(web_settings, cached_loader)


@pytest.fixture(scope="module")
def handlers(web_engine: SearchEngine) -> SearchHandlers:
    """The page's handlers over the web engine."""
    return SearchHandlers(web_engine)


API_KEY = "test-key-" + "0123456789abcdef"  # the key of keyed_app


def get(url: str, **params: object) -> httpx.Response:
    """GET url with these query parameters (a test's plain HTTP client)."""
    return httpx.get(url, params=params, timeout=30)


@pytest.fixture(scope="session")
def keyed_app(web_settings: Settings, cached_loader: Callable, minilm: Embedder) -> Iterator[str]:
    """The web app over the web store with API_KEY required; its URL, once its categories
    are read back from the ingest's file."""
    launched = launch(web_settings, cached_loader, minilm, api_keys=ApiKeys((API_KEY,)))
    keeper_for(launched.engine).wait(120)
    yield launched.url
    launched.close()


@pytest.fixture(scope="session")
def web_app(web_settings: Settings, cached_loader: Callable, minilm: Embedder) -> Iterator:
    """The web app over the web store, launched once per session."""
    launched = launch(web_settings, cached_loader, minilm)
    yield launched
    launched.close()


def animated_gif() -> bytes:
    """Return a small two-frame animated GIF."""
    frames = [Image.new("RGB", (64, 48), colour) for colour in ("#e11d48", "#2563eb")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def live_gif_url() -> Iterator[str]:
    """The URL of an animated GIF that does load: a local HTTP server."""
    with serve_routes({"/live.gif": animated_gif()}) as (base_url, _):
        yield f"{base_url}/live.gif"


@pytest.fixture(scope="session")
def xss_app(
    tmp_path_factory: pytest.TempPathFactory,
    cached_loader: Callable,
    minilm: Embedder,
    live_gif_url: str,
) -> Iterator:
    """The web app over a store whose rows carry script and markup payloads, and a live GIF."""
    lines = [*XSS_LINES, f"{live_gif_url}\ta cat jumps on a trampoline\n"]
    settings = filled_settings(tmp_path_factory.mktemp("xss"), lines, cached_loader)
    launched = launch(settings, cached_loader, minilm)
    yield launched
    launched.close()


LIVE_GIFS = [  # (file, background, shape, colour, description): GIFs that do load
    ("ball.gif", "white", "circle", "red", "a red ball bounces across a white floor"),
    ("box.gif", "yellow", "square", "blue", "a blue box slides over a yellow table"),
    ("kite.gif", "black", "triangle", "green", "a green kite flies in the night sky"),
    ("train.gif", "purple", "bar", "white", "a white train passes a purple station"),
    ("sun.gif", "orange", "circle", "yellow", "the yellow sun rises over an orange sea"),
    ("puck.gif", "white", "circle", "black", "a black puck slides across the ice"),
    ("block.gif", "green", "square", "red", "a red block falls onto green grass"),
    ("sail.gif", "blue", "triangle", "white", "a white sail crosses a blue lake"),
]


@pytest.fixture(scope="session")
def live_grid_app(
    tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable, minilm: Embedder
) -> Iterator:
    """The web app over eight generated animated GIFs served by a local HTTP server, as a
    user with internet sees the grid."""
    from tests.frames.conftest import one_scene_gif

    routes = {
        f"/{name}": body_route(
            one_scene_gif(bg, shape, colour, frames=10), content_type="image/gif"
        )
        for name, bg, shape, colour, _ in LIVE_GIFS
    }
    with serve_handlers(routes) as (base, _):
        lines = [f"{base}/{name}\t{text}\n" for name, *_, text in LIVE_GIFS]
        settings = filled_settings(tmp_path_factory.mktemp("live"), lines, cached_loader)
        launched = launch(settings, cached_loader, minilm)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def dead_link_app(
    tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable, minilm: Embedder
) -> Iterator:
    """The web app over a few GIFs, one of which the link checker recorded as dead."""
    from search_app.records import LinkState, LinkStatus
    from search_app.store.client import GifStore

    lines = [
        "https://x.test/dead.gif\ta dog jumps into a swimming pool\n",
        "https://x.test/alive.gif\ta dog jumps over a fence\n",
        "https://x.test/other.gif\ta cat sleeps on a sofa\n",
    ]
    settings = filled_settings(tmp_path_factory.mktemp("dead"), lines, cached_loader)
    store = GifStore(settings)
    dead = next(g for g in store.read_gif_links() if g.url.endswith("/dead.gif"))
    state = LinkState(LinkStatus.DEAD, 1_700_000_000, "http_error")
    store.write_link_states([(row_id, state) for row_id in dead.description_ids])
    launched = launch(settings, cached_loader, minilm)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def slow_gif_app(
    tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable, minilm: Embedder
) -> Iterator:
    """The web app over one GIF whose server takes 20 s to answer (it stays loading)."""
    with serve_handlers({"/slow.gif": body_route(animated_gif(), delay_s=20.0)}) as (base, _):
        lines = [f"{base}/slow.gif\ta cat jumps on a trampoline\n"]
        settings = filled_settings(tmp_path_factory.mktemp("slow"), lines, cached_loader)
        launched = launch(settings, cached_loader, minilm)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Headless Debian Chromium driven by Playwright, once per session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh page; dialogs are recorded (and dismissed) in page.dialogs."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    new_page = context.new_page()
    new_page.dialogs = []

    def on_dialog(dialog) -> None:
        new_page.dialogs.append(dialog.message)
        dialog.dismiss()

    new_page.on("dialog", on_dialog)
    yield new_page
    context.close()
