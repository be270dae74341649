"""run_evaluation end to end: real Chroma stores, a hand-made case, and the real MiniLM."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from ingest.reader import read_rows
from ingest.sources import bundled_sample_path
from search_app.embedders.sbert import Embedder, ModelSpec
from search_app.errors import ConfigError
from search_app.records import GifRecord
from search_app.retrieval.probe import EvalProbe, Scope
from search_app.retrieval.ranking import DEFAULT_POOLING, rank_rows
from search_app.settings import Settings
from search_app.store.client import GifStore
from search_eval.run import (
    BASELINE,
    DEFAULT_VARIANT,
    VARIANTS,
    Lexical,
    TextVectors,
    open_engine,
    rank_query,
    run_evaluation,
)
from search_eval.splits import Protocol, split_all_descriptions, split_one_per_gif

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
        return np.array([VECTORS[t] for t in texts], dtype=np.float32)

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


def overall(result: object, variant: str) -> dict[str, float]:
    cell = result.variants[variant]["all"]  # type: ignore[attr-defined]  # result: an EvalResult typed object
    return {name: m.value for name, m in cell.metrics.items()}


def test_all_descriptions_metrics_on_a_hand_made_case(
    hand_embedder: Embedder, settings: Settings
) -> None:
    report = run_evaluation(
        hand_rows(), hand_embedder, settings, ["hand"], protocols=[Protocol.ALL_DESCRIPTIONS]
    )
    (result,) = report.protocols
    assert (result.indexed, result.queries) == (7, 6)
    best = overall(result, BASELINE)
    # Five queries find their GIF first; "someone makes music ." (its own row hidden) ranks
    # the dog GIF first (cosine 0.8 > 0.6 to "a man plays guitar ."), so its GIF is second.
    assert (best["recall@1"], best["recall@5"], best["recall@10"]) == (
        pytest.approx(5 / 6),
        1.0,
        1.0,
    )
    assert best["mrr"] == pytest.approx((5 + 1 / 2) / 6)
    assert (report.rows, report.gifs, report.multi_description_gifs) == (7, 4, 3)
    # every query's GIF has one findable description left: one stratum, besides "all"
    assert list(result.variants[DEFAULT_VARIANT]) == ["all", "1"]
    assert result.variants[BASELINE]["1"].recall10_vs_baseline is None
    assert set(result.variants) == {v.name for v in VARIANTS}


def test_one_per_gif_metrics_depend_on_which_description_is_indexed(
    hand_embedder: Embedder, settings: Settings
) -> None:
    rows = hand_rows()
    split = split_one_per_gif(rows, seed=0)
    indexed_guitar = next(r for r in split.indexed if r.url.endswith("guitar.gif"))
    # Querying with "music" ranks the guitar GIF 2nd; querying with "guitar" ranks it 1st.
    expected_rr = 0.5 if indexed_guitar.description == "a man plays guitar ." else 1.0
    report = run_evaluation(rows, hand_embedder, settings, protocols=[Protocol.ONE_PER_GIF])
    (result,) = report.protocols
    assert result.queries == 3
    assert overall(result, BASELINE)["mrr"] == pytest.approx((2 + expected_rr) / 3)
    # one description per GIF: search's pooling is the best cosine, nothing to group
    assert overall(result, DEFAULT_VARIANT) == overall(result, BASELINE)
    assert "mean-all" not in result.variants


def test_eval_builds_its_own_collections_and_leaves_the_main_one_alone(
    hand_embedder: Embedder, settings: Settings
) -> None:
    run_evaluation(hand_rows(), hand_embedder, settings)
    reopened = GifStore(settings)
    assert reopened.binding() is None  # collection "gifs" was never created
    names = sorted(c.name for c in reopened.client.list_collections())
    assert [n.rsplit("-", 1)[0] for n in names] == ["eval-all-descriptions", "eval-one-per-gif"]


def test_rows_without_multi_description_gifs_are_refused(
    hand_embedder: Embedder, settings: Settings
) -> None:
    single = [GifRecord("https://x.test/bird.gif", "a bird in a tree .", "hand")]
    with pytest.raises(ConfigError, match="two or more descriptions"):
        run_evaluation(single, hand_embedder, settings, ["one.tsv"])


def test_the_default_variant_is_searchs_own_ranking() -> None:
    """Eval's default variant is what SearchEngine.search ranks with: the default pooling
    (rank_rows' own default) over the nearest rows (the probe's default scope)."""
    default = next(v for v in VARIANTS if v.name == DEFAULT_VARIANT)
    pooling = inspect.signature(rank_rows).parameters["pooling"].default
    scope = inspect.signature(EvalProbe.candidates).parameters["scope"].default
    assert default.pooling is pooling is DEFAULT_POOLING
    assert default.scope is scope is Scope.NEAREST_ROWS


@pytest.fixture(scope="module")
def real_rows() -> list[GifRecord]:
    rows, _ = read_rows(bundled_sample_path(), "tgif-sample", limit=400)
    return rows


def test_minilm_finds_held_out_descriptions_better_than_bm25(
    minilm: Embedder, real_rows: list[GifRecord], tmp_path: Path
) -> None:
    settings = Settings(store_dir=tmp_path / "eval", model="minilm", device="cpu")
    report = run_evaluation(real_rows, minilm, settings, ["tgif-sample"])
    for result in report.protocols:
        search, bm25 = overall(result, DEFAULT_VARIANT), overall(result, "bm25")
        assert search["recall@10"] > 0.3
        assert search["recall@10"] > bm25["recall@10"]
        assert search["recall@1"] <= search["recall@5"] <= search["recall@10"]
    data = report.to_dict()
    all_descriptions = data["protocols"]["all-descriptions"]
    assert all_descriptions["queries"] > 100
    by_stratum = all_descriptions["variants"][DEFAULT_VARIANT]
    assert {"all", "1", "2"} <= set(by_stratum)
    assert (
        sum(by_stratum[s]["queries"] for s in by_stratum if s != "all")
        == (by_stratum["all"]["queries"])
    )
    gain = by_stratum["1"]["recall@10_vs_baseline"]
    assert gain["low"] <= gain["value"] <= gain["high"]


def test_a_hidden_row_is_not_found_by_any_variant(
    minilm: Embedder, real_rows: list[GifRecord], tmp_path: Path
) -> None:
    split = split_all_descriptions(real_rows)
    settings = Settings(store_dir=tmp_path / "eval", model="minilm", device="cpu")
    vectors = TextVectors(minilm, 256)
    vectors.add([r.description for r in real_rows])
    probe = EvalProbe(open_engine(split, vectors, settings))
    lexical = Lexical(split)
    query = split.queries[0]
    vector = vectors.of([query.description])[0]
    seen = rank_query(probe, lexical, query, vector, None, VARIANTS)
    for name in seen:
        assert seen[name][0] == query.gif_id  # its own row: a perfect match
    for scope in Scope:
        candidates = probe.candidates(vector, 10, hidden_rows=(query.row_id,), scope=scope)
        assert query.row_id not in {row.row_id for row in candidates.rows}
        assert query.gif_id in {row.gif_id for row in candidates.rows}  # its other rows
    assert query.row_id not in {g.row.row_id for g in lexical.rank(query.description, query.row_id)}
