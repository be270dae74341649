"""Shared fixtures: the real bundled MiniLM (loaded once), a tiny CLIP, real sample rows."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may wait on a model hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from ingest.sources import bundled_sample_path  # noqa: E402
from search_app.embedder import Embedder, load_embedder  # noqa: E402
from search_app.settings import Settings  # noqa: E402
from tests.tiny_clip import build_tiny_clip  # noqa: E402

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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh store and cache under tmp_path."""
    return Settings(
        store_dir=tmp_path / "store",
        cache_dir=tmp_path / "cache",
        model="minilm",
        device="cpu",
        network_timeout_s=2.0,
    )


@pytest.fixture
def sample_lines() -> list[str]:
    """The real TGIF sample rows (11,112 lines, URL<TAB>description)."""
    return list(SAMPLE_LINES)


def write_tsv(path: Path, lines: list[str]) -> Path:
    """Write lines (each ending in a newline) to path and return it."""
    path.write_text("".join(lines), encoding="utf-8")
    return path
