"""Instant search: queries are embedded by the ONNX query embedder, so a search (CLI, web
app, "more like this", image queries) starts without torch; the same answers as through
sentence-transformers; a one-line fallback when it can't be built, and a switch to force
sentence-transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.job import IngestOptions, run_ingest
from search_app.embedders.onnx_embedder import OnnxEmbedder
from search_app.embedders.query_embedder import (
    QueryBackend,
    ensure_query_embedder,
    load_for_settings,
    load_query_embedder,
    onnx_dir,
)
from search_app.embedders.sbert import Embedder
from search_app.errors import ConfigError
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from tests.conftest import SAMPLE_LINES, write_tsv

HEAVY = ("torch", "sentence_transformers", "transformers", "sklearn")
REPO = Path(__file__).resolve().parents[1]
# Runs the real CLI in a new process, then reports which heavy libraries it imported.
CLI_PROBE = """
import json, sys
from gifsearch.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "heavy": sorted(m for m in %r if m in sys.modules)}),
      file=sys.stderr)
"""
# Starts `gifsearch serve` in a new process, searches through its HTTP API (with httpx,
# which the app brings anyway) and says which heavy libraries the serving process holds.
SERVE_PROBE = """
import json, os, sys, threading, time
import httpx
from gifsearch.cli import main
threading.Thread(target=main, args=(sys.argv[2:],), daemon=True).start()
url = sys.argv[1]
for _ in range(600):
    try:
        if httpx.get(url, timeout=1).status_code == 200:
            break
    except httpx.HTTPError:
        time.sleep(0.1)
call = httpx.post(url + "/gradio_api/call/search", json={"data": ["a dog runs", 3, 0, None, False]})
events = httpx.get(url + "/gradio_api/call/search/" + call.json()["event_id"], timeout=60)
print(json.dumps({"complete": "event: complete" in events.text,
                  "heavy": sorted(m for m in %r if m in sys.modules)}), file=sys.stderr)
sys.stderr.flush()
os._exit(0)
"""


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable, minilm: Embedder
) -> Settings:
    """A MiniLM store of 300 real rows, and its ONNX query embedder built in the session
    cache (as `gifsearch ingest` builds it)."""
    root = tmp_path_factory.mktemp("instant")
    settings = Settings(store_dir=root / "store", model="minilm", device="cpu")
    assert str(settings.cache_dir) == os.environ["GIFSEARCH_CACHE_DIR"]  # what the CLI reads
    source = write_tsv(root / "rows.tsv", SAMPLE_LINES[:300])
    run_ingest(IngestOptions(source=str(source)), settings, loader=cached_loader)
    ensure_query_embedder(minilm, settings)
    return settings


def run_probe(code: str, args: list[str], env: dict | None = None) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    report["stdout"], report["stderr"] = result.stdout, result.stderr
    return report


def test_a_cli_search_imports_no_training_stack(store: Settings) -> None:
    args = ["search", "a dog is running", "-k", "5", "--store", str(store.store_dir)]
    report = run_probe(CLI_PROBE % (HEAVY,), args)
    assert report["code"] == 0 and report["heavy"] == []
    assert report["stdout"].count("https://") == 5


def test_serve_answers_without_the_training_stack(store: Settings) -> None:
    from tests.chroma_server import free_port

    port = free_port()
    args = [f"http://127.0.0.1:{port}", "serve", "--port", str(port)]
    report = run_probe(SERVE_PROBE % (HEAVY,), [*args, "--store", str(store.store_dir)])
    assert report["complete"] and report["heavy"] == []


def test_forcing_sentence_transformers_loads_it(store: Settings) -> None:
    args = ["search", "a dog is running", "-k", "5", "--store", str(store.store_dir)]
    report = run_probe(CLI_PROBE % (HEAVY,), [*args, "--query-backend", "sentence-transformers"])
    assert report["code"] == 0 and "sentence_transformers" in report["heavy"]


def test_the_onnx_and_sentence_transformers_paths_give_the_same_answers(
    store: Settings,
) -> None:
    fast = SearchEngine.open(store)
    assert isinstance(fast.embedder, OnnxEmbedder)
    slow = SearchEngine.open(
        store, lambda model, s: load_for_settings(model, replace(s, precision="fp32"))
    )
    queries = [line.split("\t")[1].strip() for line in SAMPLE_LINES[300:360]]
    for query in queries:
        a, b = fast.search(SearchRequest(query, k=10)), slow.search(SearchRequest(query, k=10))
        same = [x.gif_id for x in a] == [y.gif_id for y in b]
        if not same:  # only where two scores tie to within 1e-6
            for x, y in zip(a, b, strict=True):
                assert x.gif_id == y.gif_id or abs(x.score - y.score) < 1e-6
        assert [x.score for x in a] == pytest.approx([y.score for y in b], abs=1e-4)
    liked = fast.search(SearchRequest("a man dancing", k=1))[0].gif_id
    similar = fast.search(SearchRequest(like=liked, k=5))
    assert len(similar) == 5


def test_when_it_cannot_be_built_search_says_so_once_and_uses_sentence_transformers(
    store: Settings, tmp_path: Path, cached_loader: Callable
) -> None:
    settings = replace(store, cache_dir=tmp_path / "unwritable")
    (tmp_path / "unwritable").write_text("a file where the cache directory should be")
    embedder = load_query_embedder("minilm", settings)
    assert isinstance(embedder, Embedder)
    assert embedder.notice and embedder.notice.count("\n") == 0
    assert (
        "no ONNX query embedder" in embedder.notice and "sentence-transformers" in embedder.notice
    )


def test_the_onnx_backend_is_refused_in_one_line_when_it_cannot_be_had(
    store: Settings, tmp_path: Path
) -> None:
    settings = replace(store, cache_dir=tmp_path / "blocked", query_backend=QueryBackend.ONNX)
    (tmp_path / "blocked").write_text("not a directory")
    with pytest.raises(ConfigError, match="no ONNX query embedder"):
        load_query_embedder("minilm", settings)


def test_a_damaged_build_is_rebuilt_and_said_so(
    store: Settings, tmp_path: Path, minilm: Embedder
) -> None:
    settings = replace(store, cache_dir=tmp_path / "cache")
    ensure_query_embedder(minilm, settings)
    directory = onnx_dir(settings, minilm.spec)
    assert directory is not None
    (directory / "text.onnx").write_bytes(b"not a model")  # same name, wrong size
    fast = load_query_embedder("minilm", settings)
    assert isinstance(fast, OnnxEmbedder) and "rebuilt" in (fast.notice or "")
    vector = fast.embed_query("a cat jumps")
    assert float(vector @ minilm.embed_query("a cat jumps")) > 0.999


def test_image_queries_run_through_onnx_with_a_clip_model(
    tiny_clip_dir: Path, tmp_path: Path
) -> None:
    from PIL import Image

    settings = Settings(
        store_dir=tmp_path / "store",
        cache_dir=tmp_path / "cache",
        model=str(tiny_clip_dir),
        device="cpu",
    )
    source = write_tsv(tmp_path / "rows.tsv", SAMPLE_LINES[:40])
    run_ingest(IngestOptions(source=str(source)), settings, loader=load_for_settings)
    ensure_query_embedder(load_for_settings(str(tiny_clip_dir), settings), settings)
    engine = SearchEngine.open(replace(settings, model="auto"))
    assert isinstance(engine.embedder, OnnxEmbedder) and engine.supports_images
    image = Image.new("RGB", (40, 30), "red")
    slow = load_for_settings(str(tiny_clip_dir), replace(settings, precision="fp32"))
    fast_vector = engine.embedder.embed_images([image])[0]
    assert float(fast_vector @ slow.embed_images([image])[0]) > 0.9999
    assert len(engine.search(SearchRequest(image=image, k=3))) == 3
    assert np.isclose(np.linalg.norm(engine.embedder.embed_query("a cat")), 1.0)
