"""Run an evaluation: index a split in a real Chroma store, ask every query through
SearchEngine's own ranking code under each variant, and measure by stratum.

Each semantic variant is search's code with one parameter changed: the pooling of a GIF's
description cosines (retrieval/ranking.py) and which rows it pools (probe.Scope), reached
through search's one seam for eval, search_app/retrieval/probe.py.
The query's own row is hidden from its search in the all-descriptions protocol.
BM25 is the lexical baseline; hybrid-rrf fuses it with search's ranking by search's own
rank fusion. Texts are embedded in batches; search embeds one query at a time, which gives
the same vectors up to float rounding.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from search_app.embedders.sbert import Embedder
from search_app.errors import ConfigError
from search_app.records import GifRecord, StoredRow
from search_app.retrieval.engine import FUSION_DEPTH, SearchEngine
from search_app.retrieval.probe import Candidates, EvalProbe, Scope
from search_app.retrieval.ranking import (
    BEST_ONLY,
    DEFAULT_POOLING,
    Pooling,
    PoolingKind,
    ScoredGif,
    best_row_per_gif,
    fuse_ranks,
)
from search_app.settings import Settings
from search_app.store.binding import ModelBinding
from search_app.store.client import GifStore
from search_eval.bm25 import BM25Index
from search_eval.metrics import RANK_DEPTH, StratumMetrics, measure_strata, rank_of, stratum_of
from search_eval.splits import EvalSplit, Protocol, group_by_gif, make_split

BM25_CANDIDATE_ROWS = 400  # rows BM25 hands to grouping by GIF
ProgressFactory = Callable[[int, str], Callable[[int], None]]


@dataclass(frozen=True)
class Variant:
    """One way to rank: a pooling and scope of search's code, or a lexical baseline."""

    name: str
    about: str
    pooling: Pooling | None = None  # None: not a semantic variant
    scope: Scope = Scope.NEAREST_ROWS


BASELINE = "best"
DEFAULT_VARIANT = "soft-best"  # what SearchEngine.search does (search_app.retrieval.ranking)
VARIANTS = (
    Variant(BASELINE, "a GIF scored by its best description's cosine", BEST_ONLY),
    Variant(
        DEFAULT_VARIANT,
        f"search's ranking: {DEFAULT_POOLING.label} over the GIF's rows among the nearest",
        DEFAULT_POOLING,
    ),
    *(
        Variant(
            f"soft-best-t{t:g}-cap{cap:g}",
            f"soft-best at temperature {t:g}, cap {cap:g}: a bigger bonus",
            Pooling(PoolingKind.SOFT_BEST, t, cap),
        )
        for t, cap in ((0.02, 0.02), (0.05, 0.05))
    ),
    Variant(
        "soft-best-all",
        "search's pooling over every description of the GIF (not only the nearest rows)",
        DEFAULT_POOLING,
        Scope.ALL_DESCRIPTIONS,
    ),
    Variant(
        "max+mean-all",
        "(best + mean cosine of every description) / 2: search's ranking before",
        Pooling(PoolingKind.MAX_MEAN),
        Scope.ALL_DESCRIPTIONS,
    ),
    Variant(
        "mean-all",
        "mean cosine of every description",
        Pooling(PoolingKind.MEAN),
        Scope.ALL_DESCRIPTIONS,
    ),
    Variant("bm25", "BM25 over descriptions, a GIF scored by its best description"),
    Variant("hybrid-rrf", "search's rank fusion of soft-best and bm25"),
)
# With one description per GIF indexed every pooling is the same: only these are run.
ONE_PER_GIF_VARIANTS = (BASELINE, DEFAULT_VARIANT, "bm25", "hybrid-rrf")


def _no_progress(total: int, label: str) -> Callable[[int], None]:
    return lambda n: None


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

    def has(self, text: str) -> bool:
        """Whether text was embedded."""
        return text in self._rows

    def of(self, texts: Sequence[str]) -> np.ndarray:
        """Return the vectors of texts (embedded before), one row each."""
        return self._matrix[[self._rows[t] for t in texts]]


@dataclass(frozen=True)
class ProtocolResult:
    """Every variant's metrics under one protocol, overall ('all') and by stratum."""

    protocol: Protocol
    indexed: int
    queries: int
    variants: dict[str, dict[str, StratumMetrics]]

    def to_dict(self) -> dict[str, object]:
        """Return the result as JSON-ready data."""
        return {
            "indexed": self.indexed,
            "queries": self.queries,
            "variants": {
                name: {stratum: m.to_dict() for stratum, m in strata.items()}
                for name, strata in self.variants.items()
            },
        }


@dataclass(frozen=True)
class EvalReport:
    """What `gifsearch eval` prints and writes: the data, the model, each protocol's metrics."""

    sources: tuple[str, ...]
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
            "sources": list(self.sources),
            "rows": self.rows,
            "gifs": self.gifs,
            "multi_description_gifs": self.multi_description_gifs,
            "model": self.model,
            "device": self.device,
            "precision": self.precision,
            "seconds": round(self.seconds, 1),
            "rank_depth": RANK_DEPTH,
            "baseline": BASELINE,
            "default_variant": DEFAULT_VARIANT,
            "variants": {v.name: v.about for v in VARIANTS},
            "protocols": {str(p.protocol): p.to_dict() for p in self.protocols},
        }


def collection_name(protocol: Protocol, embedder: Embedder, rows: Sequence[GifRecord]) -> str:
    """Return a collection name unique to the protocol, model, precision and rows."""
    digest = hashlib.blake2b(digest_size=6)
    digest.update(f"{embedder.name}|{embedder.precision}".encode())
    for row in rows:
        digest.update(row.row_id.encode())
    return f"eval-{protocol}-{digest.hexdigest()}"


def open_engine(split: EvalSplit, vectors: TextVectors, settings: Settings) -> SearchEngine:
    """Index the split's rows in their own collection of settings.store_dir; return the
    SearchEngine over it (with the embedder that made the vectors)."""
    embedder = vectors.embedder
    name = collection_name(split.protocol, embedder, split.indexed)
    store = GifStore(replace(settings, collection=name), create=True)
    binding = ModelBinding(embedder.name, embedder.spec.ref, embedder.dimension)
    store.ensure_collection(binding)
    store.upsert_records(split.indexed, vectors.of([r.description for r in split.indexed]))
    return SearchEngine(store, embedder, binding)


class Lexical:
    """BM25 over a split's indexed rows, ranked GIFs as search's ranking code takes them."""

    def __init__(self, split: EvalSplit) -> None:
        self.rows = [
            StoredRow(r.row_id, r.gif_id, r.url, r.description, r.source) for r in split.indexed
        ]
        self.position = {r.row_id: i for i, r in enumerate(split.indexed)}
        self.index = BM25Index([r.description for r in split.indexed])

    def rank(self, text: str, hidden_row: str | None) -> list[ScoredGif]:
        """Return GIFs by their best BM25-scoring row, best first."""
        hidden = self.position.get(hidden_row) if hidden_row else None
        hits = self.index.top(text, BM25_CANDIDATE_ROWS, exclude=hidden)
        best = best_row_per_gif([self.rows[doc] for doc, _ in hits])
        score = {self.rows[doc].row_id: s for doc, s in hits}
        return [ScoredGif(g, score[row.row_id], row) for g, row in best.items()]


def rank_query(
    probe: EvalProbe,
    lexical: Lexical,
    query: GifRecord,
    vector: np.ndarray,
    hidden_row: str | None,
    variants: Sequence[Variant],
) -> dict[str, list[str]]:
    """Return each variant's ranked GIF ids for one query (RANK_DEPTH deep)."""
    hidden = (hidden_row,) if hidden_row else ()
    candidates: dict[Scope, Candidates] = {}
    ranked: dict[str, list[ScoredGif]] = {}
    for variant in variants:
        if variant.pooling is None:
            continue
        if variant.scope not in candidates:
            candidates[variant.scope] = probe.candidates(
                vector, RANK_DEPTH, hidden_rows=hidden, scope=variant.scope
            )
        ranked[variant.name] = candidates[variant.scope].rank(variant.pooling)
    lists = {name: [g.gif_id for g in gifs[:RANK_DEPTH]] for name, gifs in ranked.items()}
    names = {v.name for v in variants}
    if names & {"bm25", "hybrid-rrf"}:
        lexical_ranked = lexical.rank(query.description, hidden_row)
        lists["bm25"] = [g.gif_id for g in lexical_ranked[:RANK_DEPTH]]
        if "hybrid-rrf" in names:
            depth = FUSION_DEPTH * RANK_DEPTH
            fused = fuse_ranks(
                {
                    "semantic": ranked[DEFAULT_VARIANT][:depth],
                    "bm25": lexical_ranked[:depth],
                },
                prefer="semantic",
            )
            lists["hybrid-rrf"] = [g.gif_id for g in fused[:RANK_DEPTH]]
    return {v.name: lists[v.name] for v in variants}


def evaluate_split(
    split: EvalSplit,
    vectors: TextVectors,
    settings: Settings,
    progress: ProgressFactory = _no_progress,
) -> ProtocolResult:
    """Index the split in Chroma, run every query through every variant, return metrics."""
    probe = EvalProbe(open_engine(split, vectors, settings))
    lexical = Lexical(split)
    wanted = ONE_PER_GIF_VARIANTS if split.protocol is Protocol.ONE_PER_GIF else None
    variants = [v for v in VARIANTS if wanted is None or v.name in wanted]
    ranks: dict[str, list[int | None]] = {v.name: [] for v in variants}
    tick = progress(len(split.queries), f"queries {split.protocol}")
    query_vectors = vectors.of([q.description for q in split.queries])
    for query, vector in zip(split.queries, query_vectors, strict=True):
        hidden_row = query.row_id if split.hide_own_row else None
        lists = rank_query(probe, lexical, query, vector, hidden_row, variants)
        for name, ranking in lists.items():
            ranks[name].append(rank_of(query.gif_id, ranking))
        tick(1)
    findable = split.findable_per_gif()
    strata = [stratum_of(findable[q.gif_id]) for q in split.queries]
    clusters = [q.gif_id for q in split.queries]
    baseline = ranks[BASELINE]
    return ProtocolResult(
        protocol=split.protocol,
        indexed=len(split.indexed),
        queries=len(split.queries),
        variants={
            name: measure_strata(r, None if name == BASELINE else baseline, strata, clusters)
            for name, r in ranks.items()
        },
    )


def run_evaluation(
    rows: Sequence[GifRecord],
    embedder: Embedder,
    settings: Settings,
    sources: Sequence[str] = (),
    protocols: Sequence[Protocol] = (Protocol.ONE_PER_GIF, Protocol.ALL_DESCRIPTIONS),
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
        where = ", ".join(sources) or "these rows"
        raise ConfigError(
            f"no GIF in {where} has two or more descriptions; eval needs rows that share "
            "a URL (the bundled sample has 3,154 such GIFs)"
        )
    vectors = TextVectors(embedder, settings.batch_size)
    vectors.add([r.description for r in rows], progress)
    results = tuple(
        evaluate_split(make_split(p, rows, seed), vectors, settings, progress) for p in protocols
    )
    return EvalReport(
        sources=tuple(sources),
        rows=len(rows),
        gifs=len(groups),
        multi_description_gifs=sum(1 for g in groups.values() if len(g) > 1),
        model=embedder.name,
        device=embedder.device,
        precision=embedder.precision,
        seconds=time.perf_counter() - started,
        protocols=results,
    )
