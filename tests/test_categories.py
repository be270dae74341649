"""Categories from the collection: deterministic, named by their GIFs' words, shown by their
most central GIF; a real store, the real MiniLM, real sample rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from search_app.embedders.sbert import Embedder
from search_app.records import LinkState, LinkStatus, RowKind
from search_app.retrieval.categories import (
    MIN_CATEGORY_GIFS,
    MIN_NAME_GIFS,
    build_categories,
    category_count,
    group_gifs,
)
from search_app.retrieval.derived import build_derived
from search_app.retrieval.phrases import STOP_WORDS, plain_form, tokens
from search_app.retrieval.sample import read_sample
from search_app.settings import Settings
from search_app.store.client import GifStore
from tests.conftest import SAMPLE_LINES, filled_settings

ROWS = SAMPLE_LINES[:500]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable) -> GifStore:
    return GifStore(filled_settings(tmp_path_factory.mktemp("categories"), ROWS, cached_loader))


def copy_in_reverse(store: GifStore, settings: Settings) -> GifStore:
    """A second store holding the same rows and vectors, added in the reverse order."""
    sample = read_sample(store, max_rows=10**6)
    copy = GifStore(settings, create=True)
    copy.ensure_collection(store.require_binding())
    rows = sample.rows[::-1]
    copy.write_rows(
        [row.row_id for row in rows],
        sample.vectors[::-1],
        [row.description for row in rows],
        [{"url": row.url, "gif_id": row.gif_id, "source": row.source} for row in rows],
    )
    return copy


@pytest.mark.parametrize(
    ("gifs", "themes"),
    [(0, 0), (35, 0), (36, 2), (576, 8), (10_000, 33), (1_000_000, 40)],
    ids=["none", "too-few", "fewest", "sample-576", "10k", "1M-capped"],
)
def test_a_collection_has_more_themes_the_more_gifs_it_has(gifs: int, themes: int) -> None:
    assert category_count(gifs) == themes


def test_the_same_rows_give_the_same_categories_in_any_order(
    store: GifStore, tmp_path: Path, minilm: Embedder
) -> None:
    first = build_derived(store, minilm.embed_texts)
    again = build_derived(store, minilm.embed_texts)
    copy = copy_in_reverse(store, Settings(store_dir=tmp_path / "copy", collection="gifs"))
    reversed_order = build_derived(copy, minilm.embed_texts)
    assert len(first.categories) >= 5
    assert first.categories == again.categories == reversed_order.categories
    assert first.phrases.phrases == reversed_order.phrases.phrases
    assert first.related.phrases == reversed_order.related.phrases


def test_each_category_is_named_by_its_gifs_words_and_shown_by_its_most_central_gif(
    store: GifStore,
) -> None:
    sample = read_sample(store)
    themes = group_gifs(sample)
    assert themes is not None
    descriptions: dict[str, list[str]] = {}
    for row in sample.rows:
        descriptions.setdefault(row.gif_id, []).append(" ".join(tokens(row.description)))
    index = {gif_id: i for i, gif_id in enumerate(themes.gif_ids)}
    categories = build_categories(sample)
    assert [c.size for c in categories] == sorted((c.size for c in categories), reverse=True)
    for category in categories:
        theme = int(themes.labels[index[category.gif_id]])
        members = themes.members(theme)
        assert category.size == len(members) >= MIN_CATEGORY_GIFS
        term = category.search_term
        words = term.split()
        assert 1 <= len(words) <= 3 and words[0] not in STOP_WORDS and words[-1] not in STOP_WORDS
        assert category.name.lower() == term
        using = [
            i for i in members
            if any(f" {term} " in f" {text} " for text in descriptions[themes.gif_ids[i]])
        ]  # fmt: skip
        assert len(using) >= MIN_NAME_GIFS, (term, len(using))
        nearness = themes.vectors[members] @ themes.centres[theme]
        assert themes.gif_ids[members[int(np.argmax(nearness))]] == category.gif_id
    plain = [plain_form(c.search_term) for c in categories]
    assert len(set(plain)) == len(plain), "two categories say the same"


def test_every_gif_is_in_the_theme_whose_centre_is_nearest(store: GifStore) -> None:
    themes = group_gifs(read_sample(store))
    assert themes is not None
    nearest = np.argmax(themes.vectors @ themes.centres.T, axis=1)
    agree = float(np.mean(nearest == themes.labels))
    assert agree > 0.95  # k-means converged: its labels are its centres' nearest


def test_a_gif_known_dead_is_no_categorys_image(store: GifStore, tmp_path: Path) -> None:
    copy = copy_in_reverse(store, Settings(store_dir=tmp_path / "copy", collection="gifs"))
    before = build_categories(read_sample(copy))
    images = {c.gif_id for c in before}
    dead_rows = [row.row_id for row in copy.rows_for_gifs(sorted(images))]
    copy.write_link_states([(row_id, LinkState(LinkStatus.DEAD, 1, "http_error"))
                            for row_id in dead_rows])  # fmt: skip
    after = build_categories(read_sample(copy))
    assert [c.search_term for c in after] == [c.search_term for c in before]
    assert not images & {c.gif_id for c in after}


def test_too_small_or_empty_collections_have_no_categories(store: GifStore, tmp_path: Path) -> None:
    sample = read_sample(store, max_rows=20)
    assert category_count(len({row.gif_id for row in sample.rows})) == 0
    assert build_categories(sample) == []
    empty = GifStore(Settings(store_dir=tmp_path / "empty", collection="gifs"), create=True)
    empty.ensure_collection(store.require_binding())
    assert build_categories(read_sample(empty)) == []
    assert read_sample(empty, RowKind.FRAME).rows == []
