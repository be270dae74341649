"""Does "X -Y" leave Y out, and only Y? Queries built from the data, run through search.

One description per GIF is indexed (the one-per-gif split); a query X is another
description of a GIF (its target). Y is the word that most GIFs among X's top 10 results
mention in their descriptions, not a word of X nor a stop word. Then "X -Y" is searched as
a person would type it, and two things are measured:

- the share of top-10 GIFs whose descriptions mention Y, without and with the exclusion;
- recall@10 of X's target on the queries whose target does not mention Y (excluding must
  not cost what the person still wants).

Besides search's literal exclusion, the same queries are run with the excluded word's
vector subtracted from the query's (q - lambda x y, renormalized) through search's own
ranking, for comparison.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from search_app.embedders.sbert import Embedder
from search_app.records import GifRecord, SearchHit
from search_app.retrieval.engine import HitList
from search_app.retrieval.probe import EvalProbe
from search_app.retrieval.query import excludes, words
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from search_eval.run import TextVectors, open_engine
from search_eval.splits import group_by_gif, split_one_per_gif

STOP_WORDS = frozenset(
    "a an the is are was were be been and or of in on at to with by for from as into onto "
    "his her their its it he she they them this that there some another other up down out "
    "off over while then than very".split()
)
VECTOR_LAMBDAS = (0.5, 1.0)
TOP = 10
MIN_GIFS_MENTIONING = 2  # Y must be mentioned by at least this many of the top-10 GIFs


@dataclass(frozen=True)
class ExclusionQuery:
    """One "X -Y" query: the text, the excluded word, the target GIF and whether it says Y."""

    text: str
    word: str
    target: str
    target_mentions: bool


def choose_word(query: str, result_texts: Sequence[Sequence[str]]) -> str | None:
    """Return the word most of the results mention (not in the query, not a stop word)."""
    own = set(words(query))
    counts: Counter[str] = Counter()
    for texts in result_texts:
        seen = {w for text in texts for w in words(text)}
        counts.update(w for w in seen if len(w) > 2 and w not in STOP_WORDS and w not in own)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if not ranked or ranked[0][1] < MIN_GIFS_MENTIONING:
        return None
    return ranked[0][0]


def share_mentioning(engine_hits: Sequence[SearchHit], word: str) -> float:
    """The share of hits any of whose descriptions mention word."""
    if not engine_hits:
        return 0.0
    term = [(word,)]
    return sum(excludes([h.description, *h.other_descriptions], term) for h in engine_hits) / len(
        engine_hits
    )


def evaluate_exclusion(
    rows: Sequence[GifRecord],
    embedder: Embedder,
    settings: Settings,
    queries: int = 200,
    progress: Callable[[int, str], Callable[[int], None]] | None = None,
) -> dict[str, object]:
    """Build up to `queries` "X -Y" queries from rows and measure them (see the module)."""
    split = split_one_per_gif(rows)
    vectors = TextVectors(embedder, settings.batch_size)
    vectors.add([r.description for r in split.indexed])
    engine = open_engine(split, vectors, settings)
    probe = EvalProbe(engine)
    texts_of = {gif: [r.description for r in group] for gif, group in group_by_gif(rows).items()}
    built: list[tuple[ExclusionQuery, HitList]] = []  # with its plain search's hits
    tick = progress(queries, "exclusion queries") if progress else (lambda n: None)
    for query in split.queries:
        if len(built) >= queries:
            break
        plain = engine.search(SearchRequest(query.description, k=TOP))
        word = choose_word(
            query.description, [[h.description, *h.other_descriptions] for h in plain]
        )
        if word is None:
            continue
        mentions = excludes(texts_of[query.gif_id], [(word,)])
        built.append((ExclusionQuery(query.description, word, query.gif_id, mentions), plain))
        tick(1)
    results: dict[str, dict[str, list[float]]] = {}

    def record(name: str, item: ExclusionQuery, hits: Sequence[SearchHit]) -> None:
        cell = results.setdefault(name, {"share": [], "found": []})
        cell["share"].append(share_mentioning(hits, item.word))
        if not item.target_mentions:
            cell["found"].append(float(item.target in {h.gif_id for h in hits}))

    for item, plain in built:
        record("none", item, plain)
        literal = SearchRequest(f"{item.text} -{item.word}", k=TOP)
        record("literal (search's)", item, engine.search(literal))
        query_vector = embedder.embed_query(item.text)
        word_vector = embedder.embed_query(item.word)
        for lam in VECTOR_LAMBDAS:
            shifted = query_vector - lam * word_vector
            shifted = shifted / (np.linalg.norm(shifted) or 1.0)
            hits = probe.search_vector(shifted, TOP)
            record(f"vector lambda={lam:g}", item, hits)
    return {
        "queries": len(built),
        "targets_not_mentioning": sum(not q.target_mentions for q, _ in built),
        "examples": [f"{q.text} -{q.word}" for q, _ in built[:5]],
        "variants": {
            name: {
                "share_of_top10_mentioning": round(float(np.mean(cell["share"])), 4),
                "recall@10_targets_not_mentioning": round(float(np.mean(cell["found"])), 4)
                if cell["found"]
                else None,
            }
            for name, cell in results.items()
        },
    }


def format_exclusion(data: dict[str, Any]) -> str:
    """The exclusion measurement as a table."""
    lines = [
        f'exclusion: {data["queries"]} "X -Y" queries; {data["targets_not_mentioning"]} '
        "targets do not mention Y",
        f"{'method':<22} {'top-10 mentioning Y':>20} {'R@10 (targets without Y)':>26}",
    ]
    for name, cell in data["variants"].items():
        recall = cell["recall@10_targets_not_mentioning"]
        lines.append(
            f"{name:<22} {cell['share_of_top10_mentioning']:>20.3f} "
            f"{recall if recall is None else f'{recall:.3f}':>26}"
        )
    lines += ["examples:", *(f"  {example}" for example in data["examples"])]
    return "\n".join(lines)
