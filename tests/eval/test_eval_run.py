"""run_evaluation end to end: real Chroma stores, a hand-made case, and the real MiniLM."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.reader import read_rows
from ingest.sources import bundled_sample_path
from search_app.embedder import Embedder, ModelSpec
from search_app.errors import ConfigError
from search_app.evaluation import (
    DEFAULT_VARIANT,
    PROTOCOL_ALL,
    PROTOCOL_ONE_PER_GIF,
    EvalSplit,
    SplitIndex,
    TextVectors,
    run_evaluation,
    split_all_descriptions,
    split_one_per_gif,
)
from search_app.lexical import normalize_query
from search_app.records import GifRecord
from search_app.search import SearchEngine
from search_app.settings import Settings
from search_app.store import GifStore

# Hand-set vectors: every similarity, so every rank, is known.
VECTORS = {
    "a dog on a beach .": [1.0, 0.0, 0.0, 0.0],
    "a dog runs on sand .": [0.9, 0.1, 0.0, 0.0],
    "a cat on a sofa .": [0.0, 1.0, 0.0, 0.0],
    "a kitten naps .": [0.1, 0.9, 0.0, 0.0],
    "a man plays guitar .": [0.0, 0.0, 1.0, 0.0],
    "someone makes music .": [0.8, 0.0, 0.6, 0.0],  # nearer the dogs than the guitar
    "a bird in a tree .": [0.0, 0.0, 0.0, 1.0],
}
GIFS = {
    "https://x.test/dog.gif": ["a dog on a beach .", "a dog runs on sand ."],
    "https://x.test/cat.gif": ["a cat on a sofa .", "a kitten naps ."],
    "https://x.test/guitar.gif": ["a man plays guitar .", "someone makes music ."],
    "https://x.test/bird.gif": ["a bird in a tree ."],
}


class HandModel:
    """A stand-in sentence-transformers model returning the hand-set vectors."""

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        return np.array([VECTORS[normalize_query(t)] for t in texts], dtype=np.float32)

    def get_embedding_dimension(self) -> int:
        return 4


def hand_rows() -> list[GifRecord]:
    return [GifRecord(url, text, "hand") for url, texts in GIFS.items() for text in texts]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """An embedded scratch store (eval always builds its collections in one)."""
    return Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache", model="hand")


@pytest.fixture
def hand_embedder() -> Embedder:
    return Embedder(HandModel(), ModelSpec("hand", "hand-vectors"), "cpu", "fp32")


def test_all_descriptions_metrics_on_a_hand_made_case(
    hand_embedder: Embedder, settings: Settings
) -> None:
    report = run_evaluation(hand_rows(), hand_embedder, settings, "hand", protocols=[PROTOCOL_ALL])
    (result,) = report.protocols
    assert (result.indexed, result.queries) == (7, 6)
    semantic = result.variants["semantic"]
    # Five queries find their GIF first; "someone makes music ." ranks the dog GIF first
    # (cosine 0.8 > 0.6 to "a man plays guitar ."), so its GIF is second.
    assert semantic.recall == {1: pytest.approx(5 / 6), 5: 1.0, 10: 1.0}
    assert semantic.mrr == pytest.approx((5 + 1 / 2) / 6)
    assert (report.rows, report.gifs, report.multi_description_gifs) == (7, 4, 3)


def test_one_per_gif_metrics_depend_on_which_description_is_indexed(
    hand_embedder: Embedder, settings: Settings
) -> None:
    rows = hand_rows()
    split = split_one_per_gif(rows, seed=0)
    indexed_guitar = next(r for r in split.indexed if r.url.endswith("guitar.gif"))
    # Querying with "music" ranks the guitar GIF 2nd; querying with "guitar" ranks it 1st.
    expected_rr = 0.5 if indexed_guitar.description == "a man plays guitar ." else 1.0
    report = run_evaluation(rows, hand_embedder, settings, protocols=[PROTOCOL_ONE_PER_GIF])
    (result,) = report.protocols
    assert result.queries == 3
    assert result.variants["semantic"].mrr == pytest.approx((2 + expected_rr) / 3)
    assert result.variants["semantic-raw-query"] == result.variants["semantic"]
    assert "semantic-mean" not in result.variants  # one description per GIF: nothing to group


def test_eval_builds_its_own_collections_and_leaves_the_main_one_alone(
    hand_embedder: Embedder, settings: Settings
) -> None:
    run_evaluation(hand_rows(), hand_embedder, settings)
    reopened = GifStore.open(settings)
    assert reopened.binding() is None  # collection "gifs" was never created
    names = sorted(c.name for c in reopened.client.list_collections())
    assert [n.rsplit("-", 1)[0] for n in names] == ["eval-all-descriptions", "eval-one-per-gif"]


def test_rows_without_multi_description_gifs_are_refused(
    hand_embedder: Embedder, settings: Settings
) -> None:
    single = [GifRecord("https://x.test/bird.gif", "a bird in a tree .", "hand")]
    with pytest.raises(ConfigError, match="two or more descriptions"):
        run_evaluation(single, hand_embedder, settings, "one.tsv")


@pytest.fixture(scope="module")
def real_rows() -> list[GifRecord]:
    rows, _ = read_rows(bundled_sample_path(), "tgif-sample", limit=400)
    return rows


def test_minilm_finds_held_out_descriptions_better_than_bm25(
    minilm: Embedder, real_rows: list[GifRecord], tmp_path: Path
) -> None:
    settings = Settings(store_dir=tmp_path / "eval", model="minilm", device="cpu")
    report = run_evaluation(real_rows, minilm, settings, "tgif-sample")
    for result in report.protocols:
        semantic, bm25 = result.variants["semantic"], result.variants["bm25"]
        assert semantic.recall[10] > 0.3
        assert semantic.recall[10] > bm25.recall[10]
        assert semantic.recall[1] <= semantic.recall[5] <= semantic.recall[10]
    assert report.to_dict()["protocols"][PROTOCOL_ALL]["queries"] > 100


def indexed_with_engine(
    split: EvalSplit, rows: list[GifRecord], embedder: Embedder, tmp_path: Path
) -> tuple[SplitIndex, TextVectors, SearchEngine]:
    """Index the split as eval does, and open a SearchEngine on the very same collection."""
    settings = Settings(store_dir=tmp_path / "eval", model="minilm", device="cpu")
    vectors = TextVectors(embedder, 256)
    vectors.add([r.description for r in rows])
    index = SplitIndex(split, vectors, settings)
    store = GifStore.open(replace(settings, collection=index.store.collection_name))
    return index, vectors, SearchEngine(store, embedder, store.require_binding())


def test_semantic_variant_ranks_like_search_engine_with_one_description_per_gif(
    minilm: Embedder, real_rows: list[GifRecord], tmp_path: Path
) -> None:
    split = split_one_per_gif(real_rows)
    index, vectors, engine = indexed_with_engine(split, real_rows, minilm, tmp_path)
    for query in split.queries[:20]:
        vector = vectors.of([query.description])[0]
        ours = [gif for gif, _ in index.semantic(vector, None)[:10]]
        assert ours == [hit.gif_id for hit in engine.search_vector(vector, 10)]


def test_default_variant_ranks_and_scores_like_search_engine(
    minilm: Embedder, real_rows: list[GifRecord], tmp_path: Path
) -> None:
    """With every description indexed, search ranks as eval's semantic-max+mean."""
    split = split_all_descriptions(real_rows)
    index, vectors, engine = indexed_with_engine(split, real_rows, minilm, tmp_path)
    texts = ["a man is dancing", "a cat jumps off a table", "two people kiss"]
    texts += [q.description for q in split.queries[:17]]
    vectors.add(texts)
    reordered = 0
    for text in texts:
        vector = vectors.of([text])[0]
        semantic = index.semantic(vector, None)
        ours = index.regrouped(semantic, vector, None)[DEFAULT_VARIANT][:10]
        hits = engine.search_vector(vector, 10)
        assert [gif for gif, _ in ours] == [hit.gif_id for hit in hits]
        assert [hit.score for hit in hits] == pytest.approx([s for _, s in ours], abs=1e-5)
        reordered += [gif for gif, _ in semantic[:10]] != [gif for gif, _ in ours]
    assert reordered > 0  # the check compares two rankings that do differ from best-only
