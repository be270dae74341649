"""Categories from the collection: its GIFs grouped into a few dozen themes, each named by
its most characteristic words and shown by its most central GIF.

From a sample of the description rows (retrieval/sample.py), each GIF is the unit mean of
its sampled descriptions' vectors. k-means (scikit-learn, k-means++ with a fixed seed,
fitted on up to FIT_GIFS GIFs in id order, which is a random order: ids are hashes) finds
category_count(GIFs) themes, and each GIF joins the one whose centre is nearest; the same
collection gives the same categories. A theme is named by the topic phrase (retrieval/phrases.py)
with the highest share of its GIFs times the share of that phrase's GIFs that are in it:
frequent in the theme and rare elsewhere ("guitar", not "man"). Its image is the GIF
nearest its centre that is not known dead. Themes of fewer than MIN_CATEGORY_GIFS GIFs,
or with no phrase used by two of their GIFs, are left out.

A collection known only by its frames (a folder of GIF files) has no words to name a
theme by, so it has no categories.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from search_app.records import LinkStatus
from search_app.retrieval.featured import gif_vectors, unit_rows
from search_app.retrieval.phrases import plain_form, tokens, topic_phrases
from search_app.retrieval.sample import CollectionSample

MAX_CATEGORIES = 40
CATEGORY_SCALE = 3.0  # k = sqrt(GIFs) / CATEGORY_SCALE: 400 GIFs 6, 10,000 GIFs 33
MIN_CATEGORY_GIFS = 3
MIN_NAME_GIFS = 2  # a name is a phrase that at least this many of the theme's GIFs use
KMEANS_SEED = 0
KMEANS_RUNS = 1  # k-means++ starts (more, and the least inertia's is kept)
# GIFs k-means is fitted on (then every GIF goes to its nearest centre): 40 centres are
# placed as well from 20,000 GIFs as from 45,000, in under half the time.
FIT_GIFS = 20_000


@dataclass(frozen=True)
class Category:
    """A theme of the collection: its name (for a chip), the words that search it, the id
    of its most central GIF (its image) and how many GIFs it holds (above the sample's
    size, an estimate from the sample)."""

    name: str
    search_term: str
    gif_id: str
    size: int


def category_count(gifs: int) -> int:
    """Return how many themes to group this many GIFs into (0: too few for themes)."""
    k = min(MAX_CATEGORIES, int(math.sqrt(gifs) / CATEGORY_SCALE))
    return k if k >= 2 else 0


def cluster(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's theme (0..k-1: its nearest centre) and the themes' unit centres,
    by k-means fitted on the first FIT_GIFS rows."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    model = KMeans(n_clusters=k, n_init=KMEANS_RUNS, random_state=KMEANS_SEED)
    # One thread: the build leaves the other cores to searches, and OpenMP's spin-waiting
    # made two threads 4x slower than one on a busy 2-core machine (docs/results.md).
    with threadpool_limits(limits=1):
        model.fit(vectors[:FIT_GIFS])
        labels = np.asarray(model.predict(vectors), dtype=np.int64)
    return labels, unit_rows(np.asarray(model.cluster_centers_, dtype=np.float64))


def name_themes(
    labels: np.ndarray, gif_phrases: Sequence[set[str]], order: Sequence[int]
) -> dict[int, str]:
    """Name each theme, in the given order, by its most characteristic topic phrase
    not taken by an earlier theme: (theme GIFs using it / theme GIFs) x (theme GIFs
    using it / GIFs using it); ties go to the shorter, then the alphabetically first."""
    overall: Counter[str] = Counter()
    for phrases in gif_phrases:
        overall.update(phrases)
    per_theme: dict[int, Counter[str]] = defaultdict(Counter)
    for label, phrases in zip(labels.tolist(), gif_phrases, strict=True):
        # most phrases are one GIF's: counting only those that can name a theme halves
        # the memory this takes
        per_theme[label].update(p for p in phrases if overall[p] >= MIN_NAME_GIFS)
    sizes = Counter(labels.tolist())
    names: dict[int, str] = {}
    taken: set[str] = set()
    for theme in order:
        scored = [
            (-(n * n) / (sizes[theme] * overall[phrase]), len(phrase), phrase)
            for phrase, n in per_theme[theme].items()
            if n >= MIN_NAME_GIFS and plain_form(phrase) not in taken
        ]
        if scored:
            names[theme] = min(scored)[2]
            taken.add(plain_form(names[theme]))
    return names


@dataclass(frozen=True)
class Themes:
    """A sample's GIFs grouped into themes: the GIFs' ids (sorted) and unit vectors, each
    one's theme, topic phrases and whether it is known dead, and the themes' unit centres."""

    gif_ids: list[str]
    vectors: np.ndarray
    labels: np.ndarray
    phrases: list[set[str]]
    dead: np.ndarray
    centres: np.ndarray

    def members(self, theme: int) -> np.ndarray:
        """The indices of a theme's GIFs."""
        return np.flatnonzero(self.labels == theme)


def group_gifs(
    sample: CollectionSample, row_topics: Sequence[set[str]] | None = None
) -> Themes | None:
    """Group the sample's GIFs into category_count(GIFs) themes (None: too few GIFs).
    row_topics: each sampled row's topic phrases, when the caller has them already."""
    if not sample.rows:
        return None
    gif_ids, vectors = gif_vectors([row.gif_id for row in sample.rows], sample.vectors, np.float32)
    k = category_count(len(gif_ids))
    if k == 0:
        return None
    if row_topics is None:
        row_topics = [topic_phrases(tokens(row.description)) for row in sample.rows]
    index = {gif_id: i for i, gif_id in enumerate(gif_ids)}
    phrases: list[set[str]] = [set() for _ in gif_ids]
    dead = np.zeros(len(gif_ids), dtype=bool)
    for row, topics in zip(sample.rows, row_topics, strict=True):
        phrases[index[row.gif_id]] |= topics
        dead[index[row.gif_id]] |= row.link == LinkStatus.DEAD
    labels, centres = cluster(vectors, k)
    return Themes(gif_ids, vectors, labels, phrases, dead, centres)


def build_categories(
    sample: CollectionSample, row_topics: Sequence[set[str]] | None = None
) -> list[Category]:
    """Group the sample's GIFs into themes and name and picture each (see the module),
    biggest first (ties: by name)."""
    themes = group_gifs(sample, row_topics)
    if themes is None:
        return []
    k = len(themes.centres)
    sizes = np.bincount(themes.labels, minlength=k)
    order = sorted(range(k), key=lambda theme: (-int(sizes[theme]), theme))
    names = name_themes(themes.labels, themes.phrases, order)
    scale = 1.0 if sample.complete else sample.total_rows / len(sample.rows)
    found = []
    for theme, name in names.items():
        members = themes.members(theme)
        alive = members[~themes.dead[members]]
        if len(members) < MIN_CATEGORY_GIFS or not len(alive):
            continue
        nearness = themes.vectors[alive] @ themes.centres[theme]
        central = int(alive[np.argmax(nearness)])  # the first of equals: the lower id
        size = round(len(members) * scale)
        found.append(Category(name.capitalize(), name, themes.gif_ids[central], size))
    return sorted(found, key=lambda c: (-c.size, c.search_term))
