"""The CLIP path: a tiny CLIP the tests build, loaded by the real code, ingested and searched."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ingest.job import IngestOptions, run_ingest
from search_app.embedders.query_embedder import load_for_settings
from search_app.embedders.sbert import load_embedder
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from search_app.store.client import GifStore
from tests.conftest import write_tsv

ROWS = [
    "https://x.test/1.gif\ta man is dancing on the stage\n",
    "https://x.test/1.gif\ta guy dancing\n",
    "https://x.test/2.gif\ttwo dogs are playing with a ball\n",
    "https://x.test/3.gif\ta cat is sleeping in the car\n",
    "https://x.test/4.gif\ta woman is eating\n",
]


def test_tiny_clip_loads_through_sentence_transformers(tiny_clip_dir: Path) -> None:
    embedder = load_embedder(str(tiny_clip_dir), device="cpu", precision="fp32")
    vectors = embedder.embed_texts(["a man is dancing", "two dogs"])
    assert vectors.shape == (2, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.name == str(tiny_clip_dir.resolve())


def test_ingest_and_search_through_tiny_clip(
    settings: Settings, tiny_clip_dir: Path, tmp_path: Path
) -> None:
    clip = replace(settings, model=str(tiny_clip_dir), precision="fp32")
    path = write_tsv(tmp_path / "gifs.tsv", ROWS)
    report = run_ingest(IngestOptions(source=str(path)), clip, loader=load_for_settings)
    assert report.embedded == 5
    assert report.model == str(tiny_clip_dir.resolve())
    binding = GifStore(clip).require_binding()
    assert (binding.model_name, binding.dimension) == (str(tiny_clip_dir.resolve()), 16)
    # Searching with model 'auto' loads the recorded tiny CLIP, not MiniLM.
    engine = SearchEngine.open(replace(clip, model="auto"), loader=load_for_settings)
    hits = engine.search(SearchRequest("a woman is eating", k=4))
    assert hits[0].url == "https://x.test/4.gif"
    assert hits[0].score > 0.99  # its one description is the query: cosine 1 up to float error
    assert len({h.gif_id for h in hits}) == 4
    dancer = next(h for h in hits if h.url == "https://x.test/1.gif")
    assert {dancer.description, *dancer.other_descriptions} == {
        "a man is dancing on the stage",
        "a guy dancing",
    }
