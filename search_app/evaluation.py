"""Retrieval evaluation: query with held-out descriptions and measure finding the right GIF.

GIFs with several descriptions (rows sharing a URL) give queries with a known answer. Two
protocols:

- one-per-gif: one description of every GIF is indexed; each other description of a
  multi-description GIF is a query. Single-description GIFs are distractors.
- all-descriptions: every description is indexed; each description of a multi-description
  GIF is a query, hidden from its own search (leave one out). This is how the app indexes,
  so it is where grouping a GIF's descriptions (max, mean) can be compared.

Each query is ranked by several variants (VARIANTS): the default semantic search, a BM25
baseline and candidate improvements; recall@k and MRR are reported for each. Texts are
embedded in batches (embed_texts); search embeds one query at a time (embed_query), which
gives the same vectors up to float rounding. Left-out rows are hidden from BM25's scores
but still count in its document frequencies (one row in thousands).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from search_app.embedder import Embedder
from search_app.errors import ConfigError
from search_app.lexical import BM25Index, normalize_query, raw_style
from search_app.records import GifRecord
from search_app.search import MAX_K, RRF_K, best_row_per_gif
from search_app.settings import Settings
from search_app.store import GifStore, ModelBinding

PROTOCOL_ONE_PER_GIF = "one-per-gif"
PROTOCOL_ALL = "all-descriptions"
RECALL_AT = (1, 5, 10)
RANK_DEPTH = MAX_K  # GIFs ranked per query; a target ranked lower counts as missed (MRR@100)
CANDIDATE_ROWS = 400  # rows each ranker hands to grouping and fusion (search fetches 4 per GIF)
HYBRID_LEXICAL_WEIGHTS = (0.1, 0.2, 0.3)  # weight of normalized BM25 in the weighted sum
RERANK_GIFS = 30  # GIFs (best by max) that mean/centroid grouping re-scores: 3 x k for k=10
BOOTSTRAP_SAMPLES = 1_000  # resamples of query GIFs for the 95% interval of a difference

VARIANTS = {
    "semantic": "cosine, GIF scored by its best description only (the baseline)",
    "bm25": "BM25 over descriptions, GIF scored by its best description",
    "semantic-mean": f"semantic, top {RERANK_GIFS} GIFs re-scored by mean cosine of descriptions",
    "semantic-centroid": f"semantic, top {RERANK_GIFS} GIFs re-scored by cosine to mean vector",
    "semantic-max+mean": f"semantic, top {RERANK_GIFS} GIFs re-scored by (best + mean cosine) / 2 "
    "(SearchEngine.search's ranking)",
    "hybrid-rrf": f"reciprocal rank fusion of semantic and bm25 GIF ranks, k={RRF_K}",
    **{
        f"hybrid-w{w:g}": f"(1-{w:g})*semantic + {w:g}*bm25, scores min-max normalized per query"
        for w in HYBRID_LEXICAL_WEIGHTS
    },
    "hybrid-max+mean-w0.1": "0.9*semantic-max+mean + 0.1*bm25, min-max normalized per query",
    "semantic-raw-query": "semantic, queries re-typed as people write (A man's dancing.)",
    "semantic-raw-query-normalized": "semantic, raw-style queries through normalize_query",
}

GROUPING_VARIANTS = ("semantic-mean", "semantic-centroid", "semantic-max+mean")
# How SearchEngine.search ranks (search_app.search.rescore_by_all_descriptions). Where a
# protocol indexes one description per GIF the grouping variants equal semantic and are
# left out; there semantic is search's ranking.
DEFAULT_VARIANT = "semantic-max+mean"
ProgressFactory = Callable[[int, str], Callable[[int], None]]
Ranking = list[tuple[str, float]]  # (gif_id, score), best first


def _no_progress(total: int, label: str) -> Callable[[int], None]:
    return lambda n: None


@dataclass(frozen=True)
class Metrics:
    """Recall@k (share of queries whose GIF ranks k or better) and mean reciprocal rank."""

    queries: int
    recall: dict[int, float]
    mrr: float

    def to_dict(self) -> dict[str, object]:
        """Return the metrics as JSON-ready data."""
        data: dict[str, object] = {"queries": self.queries}
        data.update({f"recall@{k}": round(v, 4) for k, v in self.recall.items()})
        data["mrr"] = round(self.mrr, 4)
        return data


def compute_metrics(ranks: Sequence[int | None], ks: Sequence[int] = RECALL_AT) -> Metrics:
    """Return recall@k = share of ranks <= k and MRR = mean of 1/rank (0 when not found)."""
    total = len(ranks)
    if total == 0:
        return Metrics(0, {k: 0.0 for k in ks}, 0.0)
    found = [r for r in ranks if r is not None]
    recall = {k: sum(1 for r in found if r <= k) / total for k in ks}
    return Metrics(total, recall, sum(1.0 / r for r in found) / total)


def rank_of(
    target: str, ranking: Sequence[tuple[str, float]], depth: int = RANK_DEPTH
) -> int | None:
    """Return the 1-based rank of target among the first depth entries, else None."""
    for position, (gif_id, _) in enumerate(ranking[:depth], start=1):
        if gif_id == target:
            return position
    return None


@dataclass(frozen=True)
class EvalSplit:
    """Rows to index and queries (each query's gif_id is the right answer)."""

    protocol: str
    indexed: tuple[GifRecord, ...]
    queries: tuple[GifRecord, ...]
    hide_own_row: bool  # queries are indexed rows too: each is hidden from its own search


def group_by_gif(rows: Iterable[GifRecord]) -> dict[str, list[GifRecord]]:
    """Return each GIF's rows, GIFs and rows in input order."""
    groups: dict[str, list[GifRecord]] = {}
    for row in rows:
        groups.setdefault(row.gif_id, []).append(row)
    return groups


def split_one_per_gif(rows: Sequence[GifRecord], seed: int = 0) -> EvalSplit:
    """Index one seeded-random description per GIF; the others of each GIF are the queries."""
    indexed, queries = [], []
    for group in group_by_gif(rows).values():
        keep = min(group, key=lambda r: hashlib.blake2b(f"{seed}:{r.row_id}".encode()).digest())
        indexed.append(keep)
        queries.extend(r for r in group if r is not keep)
    return EvalSplit(PROTOCOL_ONE_PER_GIF, tuple(indexed), tuple(queries), hide_own_row=False)


def split_all_descriptions(rows: Sequence[GifRecord]) -> EvalSplit:
    """Index every description; each description of a GIF with two or more is a query."""
    groups = group_by_gif(rows)
    queries = tuple(r for group in groups.values() if len(group) > 1 for r in group)
    return EvalSplit(PROTOCOL_ALL, tuple(rows), queries, hide_own_row=True)


def group_max(gif_ids: Sequence[str], scores: Sequence[float]) -> Ranking:
    """Rank GIFs by their best-scoring row; ties keep first-seen order."""
    best: dict[str, float] = {}
    for gif_id, score in zip(gif_ids, scores, strict=True):
        if gif_id not in best or score > best[gif_id]:
            best[gif_id] = float(score)
    return sorted(best.items(), key=lambda item: -item[1])


def fuse_rrf(rankings: Sequence[Ranking], k: int = RRF_K) -> Ranking:
    """Score each GIF by the sum over rankings of 1 / (k + rank); absent GIFs add nothing."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, (gif_id, _) in enumerate(ranking, start=1):
            fused[gif_id] = fused.get(gif_id, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: -item[1])


def min_max(ranking: Ranking) -> dict[str, float]:
    """Scale a ranking's scores to [0, 1] (all 1 when they are equal)."""
    if not ranking:
        return {}
    scores = [s for _, s in ranking]
    low, span = min(scores), max(scores) - min(scores)
    return {g: (s - low) / span if span > 0 else 1.0 for g, s in ranking}


def fuse_weighted(semantic: Ranking, lexical: Ranking, lexical_weight: float) -> Ranking:
    """Score (1 - w) * semantic + w * lexical, each min-max scaled; absent GIFs score 0."""
    sem, lex = min_max(semantic), min_max(lexical)
    fused = {
        g: (1.0 - lexical_weight) * sem.get(g, 0.0) + lexical_weight * lex.get(g, 0.0)
        for g in {**sem, **lex}
    }
    order = {g: i for i, g in enumerate([*sem, *lex])}
    return sorted(fused.items(), key=lambda item: (-item[1], order[item[0]]))


class TextVectors:
    """Embeds each distinct text once (shortest first, so batches pad little)."""

    def __init__(self, embedder: Embedder, batch_size: int) -> None:
        self.embedder = embedder
        self.batch_size = batch_size
        self._rows: dict[str, int] = {}
        self._chunks: list[np.ndarray] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)

    def add(
        self, texts: Iterable[str], progress: ProgressFactory = _no_progress, label: str = "embed"
    ) -> None:
        """Embed the texts not embedded yet."""
        new = sorted({t for t in texts if t not in self._rows}, key=len)
        if not new:
            return
        vectors = self.embedder.embed_texts(new, self.batch_size, progress(len(new), label))
        for text in new:
            self._rows[text] = len(self._rows)
        self._chunks.append(vectors)
        self._matrix = np.concatenate(self._chunks)

    def of(self, texts: Sequence[str]) -> np.ndarray:
        """Return the vectors of texts (embedded before), one row each."""
        return self._matrix[[self._rows[t] for t in texts]]


@dataclass(frozen=True)
class Difference:
    """A variant's recall@10 minus the default's, with a 95% bootstrap interval."""

    delta: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        """Return the difference as JSON-ready data."""
        return {
            "delta": round(self.delta, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
        }


def recall_difference(
    ranks: Sequence[int | None],
    baseline: Sequence[int | None],
    clusters: Sequence[str],
    k: int = 10,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> Difference:
    """Return recall@k(ranks) - recall@k(baseline), resampling clusters (query GIFs).

    Queries of one GIF are resampled together because they are not independent.
    """
    hit = np.array([r is not None and r <= k for r in ranks], dtype=np.float64)
    base = np.array([r is not None and r <= k for r in baseline], dtype=np.float64)
    labels, cluster_ids = np.unique(np.asarray(clusters), return_inverse=True)
    diff_sum = np.bincount(cluster_ids, weights=hit - base, minlength=len(labels))
    count = np.bincount(cluster_ids, minlength=len(labels)).astype(np.float64)
    if count.sum() == 0:
        return Difference(0.0, 0.0, 0.0)
    picks = np.random.default_rng(seed).integers(0, len(labels), (samples, len(labels)))
    resampled = diff_sum[picks].sum(axis=1) / count[picks].sum(axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return Difference(float(diff_sum.sum() / count.sum()), float(low), float(high))


@dataclass(frozen=True)
class ProtocolResult:
    """The metrics of every variant under one protocol, and each one's gain over semantic."""

    protocol: str
    indexed: int
    queries: int
    variants: dict[str, Metrics]
    gains: dict[str, Difference]


@dataclass(frozen=True)
class EvalReport:
    """What `gifsearch eval` prints and writes: the data, the model, each protocol's metrics."""

    source: str
    rows: int
    gifs: int
    multi_description_gifs: int
    model: str
    device: str
    precision: str
    seconds: float
    protocols: tuple[ProtocolResult, ...]

    def to_dict(self) -> dict[str, object]:
        """Return the report as JSON-ready data."""
        return {
            "source": self.source,
            "rows": self.rows,
            "gifs": self.gifs,
            "multi_description_gifs": self.multi_description_gifs,
            "model": self.model,
            "device": self.device,
            "precision": self.precision,
            "seconds": round(self.seconds, 1),
            "variants": VARIANTS,
            "default_variant": DEFAULT_VARIANT,
            "protocols": {
                p.protocol: {
                    "indexed": p.indexed,
                    "queries": p.queries,
                    "metrics": {name: m.to_dict() for name, m in p.variants.items()},
                    "recall@10_gain_vs_semantic": {n: d.to_dict() for n, d in p.gains.items()},
                }
                for p in self.protocols
            },
        }


def collection_name(protocol: str, embedder: Embedder, rows: Sequence[GifRecord]) -> str:
    """Return a collection name unique to the protocol, model, precision and rows."""
    digest = hashlib.blake2b(digest_size=6)
    digest.update(f"{embedder.name}|{embedder.precision}".encode())
    for row in rows:
        digest.update(row.row_id.encode())
    return f"eval-{protocol}-{digest.hexdigest()}"


def build_store(split: EvalSplit, vectors: TextVectors, settings: Settings) -> GifStore:
    """Index the split's rows in their own collection of settings.store_dir."""
    embedder = vectors.embedder
    name = collection_name(split.protocol, embedder, split.indexed)
    store = GifStore.open(replace(settings, collection=name))
    store.ensure_collection(ModelBinding(embedder.name, embedder.spec.ref, embedder.dimension))
    store.upsert_records(split.indexed, vectors.of([r.description for r in split.indexed]))
    return store


class SplitIndex:
    """A split indexed for search: its Chroma collection, BM25 index and vectors."""

    def __init__(self, split: EvalSplit, vectors: TextVectors, settings: Settings) -> None:
        self.split = split
        self.store = build_store(split, vectors, settings)
        indexed = split.indexed
        self.matrix = vectors.of([r.description for r in indexed])
        self.position = {r.row_id: i for i, r in enumerate(indexed)}
        self.gif_of_row = [r.gif_id for r in indexed]
        self.rows_of_gif = {
            gif: np.array([self.position[r.row_id] for r in rows])
            for gif, rows in group_by_gif(indexed).items()
        }
        self.bm25 = BM25Index([r.description for r in indexed])

    def semantic(self, vector: np.ndarray, hidden_row: str | None) -> Ranking:
        """Rank GIFs by their nearest stored row, as SearchEngine.search_vector does."""
        rows = self.store.query(vector, CANDIDATE_ROWS + (1 if hidden_row else 0))
        best = best_row_per_gif([r for r in rows if r.row_id != hidden_row], None)
        ordered = sorted(best.values(), key=lambda row: row.distance or 0.0)
        return [(row.gif_id, 1.0 - float(row.distance or 0.0)) for row in ordered]

    def lexical(self, text: str, hidden: int | None) -> Ranking:
        """Rank GIFs by their best BM25-scoring row."""
        hits = self.bm25.top(text, CANDIDATE_ROWS, exclude=hidden)
        return group_max([self.gif_of_row[doc] for doc, _ in hits], [s for _, s in hits])

    def regrouped(
        self, semantic: Ranking, vector: np.ndarray, hidden: int | None
    ) -> dict[str, Ranking]:
        """Re-score the best RERANK_GIFS GIFs using all their descriptions' vectors.

        mean = mean cosine over the GIF's descriptions; centroid = cosine to their
        normalized mean vector; max+mean = (best cosine + mean) / 2. GIFs after the first
        RERANK_GIFS keep their order below the re-scored ones.
        """
        head, tail = semantic[:RERANK_GIFS], semantic[RERANK_GIFS:]
        if not head:
            return {name: [] for name in GROUPING_VARIANTS}
        members = [self.rows_of_gif[gif] for gif, _ in head]
        if hidden is not None:
            members = [m[m != hidden] for m in members]
        counts = np.array([len(m) for m in members], dtype=np.float64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        member_vectors = self.matrix[np.concatenate(members)]
        mean = np.add.reduceat(member_vectors @ vector, starts) / counts
        sums = np.add.reduceat(member_vectors, starts, axis=0)
        centroid = (sums @ vector) / np.maximum(np.linalg.norm(sums, axis=1), 1e-12)
        best = np.array([score for _, score in head])

        def ranked(scores: np.ndarray) -> Ranking:
            order = np.argsort(-scores, kind="stable")
            return [(head[i][0], float(scores[i])) for i in order] + tail

        return {
            "semantic-mean": ranked(mean),
            "semantic-centroid": ranked(centroid),
            "semantic-max+mean": ranked((best + mean) / 2.0),
        }

    def rank_all(self, query: GifRecord, vectors: TextVectors) -> dict[str, Ranking]:
        """Return every variant's ranking of one query (raw-style variants excepted)."""
        hidden = self.position[query.row_id] if self.split.hide_own_row else None
        vector = vectors.of([query.description])[0]
        semantic = self.semantic(vector, query.row_id if hidden is not None else None)
        lexical = self.lexical(query.description, hidden)
        rankings = {
            "semantic": semantic,
            "bm25": lexical,
            **self.regrouped(semantic, vector, hidden),
        }
        rankings["hybrid-rrf"] = fuse_rrf([semantic, lexical])
        for weight in HYBRID_LEXICAL_WEIGHTS:
            rankings[f"hybrid-w{weight:g}"] = fuse_weighted(semantic, lexical, weight)
        rankings["hybrid-max+mean-w0.1"] = fuse_weighted(
            rankings["semantic-max+mean"], lexical, 0.1
        )
        return rankings


def evaluate_split(
    split: EvalSplit,
    vectors: TextVectors,
    settings: Settings,
    progress: ProgressFactory = _no_progress,
) -> ProtocolResult:
    """Index the split in Chroma, run every query through every variant, return metrics."""
    index = SplitIndex(split, vectors, settings)
    raw_texts = [raw_style(q.description) for q in split.queries]
    normalized = [normalize_query(text) for text in raw_texts]
    with_raw = split.protocol == PROTOCOL_ONE_PER_GIF  # no hidden row: queries are not indexed
    if with_raw:
        vectors.add([*raw_texts, *normalized], progress, "embed raw-style queries")

    ranks: dict[str, list[int | None]] = {name: [] for name in VARIANTS}
    tick = progress(len(split.queries), f"queries {split.protocol}")
    for number, query in enumerate(split.queries):
        rankings = index.rank_all(query, vectors)
        if with_raw:
            for name, text in (
                ("semantic-raw-query", raw_texts[number]),
                ("semantic-raw-query-normalized", normalized[number]),
            ):
                rankings[name] = index.semantic(vectors.of([text])[0], None)
        for name, ranking in rankings.items():
            ranks[name].append(rank_of(query.gif_id, ranking))
        tick(1)
    clusters = [q.gif_id for q in split.queries]
    skipped = set() if split.hide_own_row else set(GROUPING_VARIANTS)  # one row per GIF
    measured = {n: r for n, r in ranks.items() if n not in skipped and (r or not split.queries)}
    return ProtocolResult(
        protocol=split.protocol,
        indexed=len(split.indexed),
        queries=len(split.queries),
        variants={name: compute_metrics(r) for name, r in measured.items()},
        gains={
            name: recall_difference(r, ranks["semantic"], clusters)
            for name, r in measured.items()
            if name != "semantic"
        },
    )


def run_evaluation(
    rows: Sequence[GifRecord],
    embedder: Embedder,
    settings: Settings,
    source: str = "",
    protocols: Sequence[str] = (PROTOCOL_ONE_PER_GIF, PROTOCOL_ALL),
    seed: int = 0,
    progress: ProgressFactory = _no_progress,
) -> EvalReport:
    """Evaluate embedder on rows under each protocol, in collections of settings.store_dir.

    settings.store_dir should be a scratch directory: each protocol gets its own collection
    there (named by protocol, model and rows), never settings.collection.
    """
    started = time.perf_counter()
    groups = group_by_gif(rows)
    if not any(len(group) > 1 for group in groups.values()):
        raise ConfigError(
            f"no GIF in {source or 'these rows'} has two or more descriptions; eval needs "
            "rows that share a URL (the bundled sample has 3,154 such GIFs)"
        )
    splits = {
        PROTOCOL_ONE_PER_GIF: lambda: split_one_per_gif(rows, seed),
        PROTOCOL_ALL: lambda: split_all_descriptions(rows),
    }
    vectors = TextVectors(embedder, settings.batch_size)
    vectors.add([r.description for r in rows], progress)
    results = tuple(evaluate_split(splits[p](), vectors, settings, progress) for p in protocols)
    return EvalReport(
        source=source,
        rows=len(rows),
        gifs=len(groups),
        multi_description_gifs=sum(1 for g in groups.values() if len(g) > 1),
        model=embedder.name,
        device=embedder.device,
        precision=embedder.precision,
        seconds=time.perf_counter() - started,
        protocols=results,
    )
