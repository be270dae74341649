"""Shared fixtures: the real bundled MiniLM (loaded once), a tiny CLIP, real sample rows."""

from __future__ import annotations

import atexit  # noqa: E402
import os
import shutil  # noqa: E402
import tempfile  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may wait on a model hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One cache for the whole session (commands run by the tests, their subprocesses, and
# Settings() made in tests all use it): the ONNX query embedder of a model is built once,
# and nothing is written to the user's ~/.cache.
_SESSION_CACHE = tempfile.mkdtemp(prefix="gifsearch-test-cache-")
atexit.register(shutil.rmtree, _SESSION_CACHE, True)
os.environ["XDG_CACHE_HOME"] = _SESSION_CACHE
os.environ["GIFSEARCH_CACHE_DIR"] = os.path.join(_SESSION_CACHE, "gifsearch")
# The tests' GIF servers (tests/local_http.py) listen on 127.0.0.1, which the link checker
# and the downloads refuse by default (ingest/reach.py): commands run by the tests may
# reach it. Settings made in tests say so themselves; the reach tests unset this.
os.environ["GIFSEARCH_ALLOW_PRIVATE_URLS"] = "1"

import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from ingest.sources import bundled_sample_path  # noqa: E402
from search_app.embedders.sbert import Embedder, load_embedder  # noqa: E402
from search_app.settings import Settings  # noqa: E402
from tests.chroma_server import run_chroma_server  # noqa: E402
from tests.tiny_clip import build_tiny_clip  # noqa: E402

BROWSER_FIXTURES = {"browser", "page"}  # headless Chromium (tests/web/conftest.py)
SERVER_FIXTURES = {"chroma_server"}  # a real `chroma run` server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the groups a test belongs to by what it uses: `browser` (Chromium), `server`
    (a `chroma run` server, directly or as the "server" backend of a parametrized store),
    so that `-m "not browser"` runs the rest on a machine without Chromium."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if names & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if names & SERVER_FIXTURES or "server" in params.values():
            item.add_marker(pytest.mark.server)


BACKENDS = [
    pytest.param("embedded", id="embedded"),
    pytest.param("server", id="server"),
]

SAMPLE_LINES = bundled_sample_path().read_text(encoding="utf-8").splitlines(keepends=True)


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """The real bundled all-MiniLM-L6-v2, loaded once per test session."""
    return load_embedder("minilm", device="cpu", precision="auto")


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CLIP model directory built and saved by the tests."""
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def cached_loader(minilm: Embedder) -> Callable[[str, Settings], Embedder]:
    """A loader that reuses the session's MiniLM and loads anything else for real."""

    def load(model: str, settings: Settings) -> Embedder:
        if model in ("minilm", "auto"):
            return minilm
        return load_embedder(model, settings.device, settings.precision, 1.0)

    return load


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real Chroma server (`chroma run`) on a free 127.0.0.1 port for the session."""
    with run_chroma_server(tmp_path_factory.mktemp("chroma-server")) as address:
        yield address


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh, empty index: an embedded store in tmp_path, or a new
    collection on the session's Chroma server."""
    base = Settings(
        store_dir=tmp_path / "store",
        cache_dir=tmp_path / "cache",
        model="minilm",
        device="cpu",
        network_timeout_s=2.0,
        allow_private_urls=True,  # the tests' GIF servers are on 127.0.0.1
    )
    return backend_settings(request, base)


def backend_settings(request: pytest.FixtureRequest, base: Settings) -> Settings:
    """Point base at the backend the test is parametrized with (a unique server collection)."""
    if request.param == "embedded":
        return base
    host, port = request.getfixturevalue("chroma_server")
    name = f"gifs-{uuid.uuid4().hex[:12]}"
    return replace(base, chroma_host=host, chroma_port=port, collection=name)


@pytest.fixture
def sample_lines() -> list[str]:
    """The real TGIF sample rows (11,112 lines, URL<TAB>description)."""
    return list(SAMPLE_LINES)


def write_tsv(path: Path, lines: list[str]) -> Path:
    """Write lines (each ending in a newline) to path and return it."""
    path.write_text("".join(lines), encoding="utf-8")
    return path


def filled_settings(root: Path, lines: list[str], loader: Callable) -> Settings:
    """Settings for an embedded store under root, filled by run_ingest with lines."""
    from ingest.job import IngestOptions, run_ingest

    settings = Settings(
        store_dir=root / "store", cache_dir=root / "cache", model="minilm", device="cpu"
    )
    source = write_tsv(root / "rows.tsv", lines)
    run_ingest(IngestOptions(source=str(source), limit=None), settings, loader=loader)
    return settings
