"""Which embedder answers queries: the ONNX one when it is built and verified for the
collection's model (no torch at all), else sentence-transformers, saying why in one line.

The ONNX build lives in the cache directory under a name made from the model's files
(fast_embedder.onnx_dir_for). A search that finds none loads the model with
sentence-transformers once, builds and verifies it (onnx_export), and uses it from then
on; `gifsearch ingest` builds it too. The setting query_backend forces either path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from search_app.embedders.onnx_embedder import (
    MANIFEST_NAME,
    load_onnx_embedder,
    model_files_dir,
    onnx_dir_for,
)
from search_app.embedders.sbert import Embedder, ModelSpec, load_embedder, resolve_model_spec
from search_app.errors import ConfigError, GifSearchError, OnnxModelError, first_line
from search_app.settings import Settings

if TYPE_CHECKING:
    from PIL import Image

ONNX_CACHE_DIR = "onnx"  # under the settings' cache directory


class QueryBackend(StrEnum):
    """The query_backend setting's values."""

    AUTO = "auto"  # ONNX when it can be built and verified, else sentence-transformers
    ONNX = "onnx"  # ONNX or a one-line error
    SENTENCE_TRANSFORMERS = "sentence-transformers"  # for comparisons and debugging


class QueryEmbedder(Protocol):
    """What search needs of an embedder (both Embedder and OnnxEmbedder have it).

    Only notice is written through it; the rest is read-only (Embedder's name is a property).
    """

    notice: str | None

    @property
    def name(self) -> str: ...

    @property
    def device(self) -> str: ...

    @property
    def precision(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def supports_images(self) -> bool: ...

    def describe(self) -> str: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...


# What opens a collection's query embedder: load_query_embedder, or a test's own loader.
EmbedderLoader = Callable[[str, Settings], "QueryEmbedder | Embedder"]


def onnx_dir(settings: Settings, spec: ModelSpec) -> Path | None:
    """Return where the ONNX build of spec's model files lives, or None without local files."""
    model_dir = model_files_dir(spec)
    if model_dir is None:
        return None
    return onnx_dir_for(settings.cache_dir / ONNX_CACHE_DIR, spec, model_dir)


def load_query_embedder(model: str, settings: Settings) -> QueryEmbedder:
    """Return the embedder for a collection's model (its recorded ref) under the settings."""
    backend = QueryBackend(settings.query_backend)
    if backend is QueryBackend.SENTENCE_TRANSFORMERS:
        return load_for_settings(model, settings)
    directory = onnx_dir(settings, resolve_model_spec(model))
    if directory is None:
        problem = "its model files are not on this machine"
        _refuse_if_forced(backend, problem)  # before loading a model that would go unused
        return _fallback(load_for_settings(model, settings), backend, problem)
    try:
        return load_onnx_embedder(directory)
    except OnnxModelError as exc:  # not built yet, or built but no longer usable
        unusable = first_line(exc) if (directory / MANIFEST_NAME).exists() else None
    embedder = load_for_settings(model, settings)
    try:
        fast = build_query_embedder(embedder, directory)
    except (GifSearchError, OSError) as exc:  # OSError: the cache can't be written
        return _fallback(embedder, backend, f"it could not be built ({first_line(exc)})")
    if unusable:
        fast.notice = f"rebuilt the ONNX query embedder ({unusable})"
    return fast


def build_query_embedder(embedder: Embedder, directory: Path) -> QueryEmbedder:
    """Build, verify and load the ONNX query embedder of a loaded sentence-transformers model."""
    from search_app.embedders.onnx_export import build_onnx_embedder

    build_onnx_embedder(embedder, directory)
    fast = load_onnx_embedder(directory)
    fast.notice = f"built the ONNX query embedder of {fast.name} in {directory}"
    return fast


def ensure_query_embedder(embedder: Embedder, settings: Settings) -> str | None:
    """Build the ONNX query embedder for an ingest's loaded model unless it exists or the
    settings say sentence-transformers; return a notice saying what happened, or None."""
    if QueryBackend(settings.query_backend) is QueryBackend.SENTENCE_TRANSFORMERS:
        return None
    directory = onnx_dir(settings, embedder.spec)
    if directory is None:
        return None
    try:
        load_onnx_embedder(directory)
        return None
    except OnnxModelError:
        pass
    try:
        return build_query_embedder(embedder, directory).notice
    except (GifSearchError, OSError) as exc:
        return f"no ONNX query embedder: it could not be built ({first_line(exc)})"


def load_for_settings(model: str, settings: Settings) -> Embedder:
    """Load a model with sentence-transformers at the settings' device, precision and
    network timeout: the bulk embedder ingest and eval use."""
    return load_embedder(model, settings.device, settings.precision, settings.network_timeout_s)


def _refuse_if_forced(backend: QueryBackend, problem: str) -> None:
    if backend is QueryBackend.ONNX:
        raise ConfigError(
            f"no ONNX query embedder: {problem}; set query backend auto to use "
            "sentence-transformers"
        )


def _fallback(embedder: QueryEmbedder, backend: QueryBackend, problem: str) -> QueryEmbedder:
    _refuse_if_forced(backend, problem)
    notices = [embedder.notice, f"no ONNX query embedder: {problem}; using sentence-transformers"]
    embedder.notice = "; ".join(n for n in notices if n)
    return embedder
