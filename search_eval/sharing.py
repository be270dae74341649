"""Share replay: does a GIF shared for one query rank higher for the next, close query, and
only there? Run through SearchEngine.search and its real usage log.

Every GIF with two or more descriptions gives two queries: A (a description that stays
indexed: what the person searched) and B (another, held out of the index: what they search
next). The GIFs are split, seeded, into shared ones and controls. Every B is searched with
no shares (before); then, for each shared GIF, A is searched and the GIF is shared for A
(engine.remember_share, as the page's "Copy URL" and Tenor's registershare do); then every
B is searched again (after). Measured by the target's stratum, with 95% cluster-bootstrap
intervals on recall@10 after minus before:
- shared: the B of a GIF shared for its A (the rise the issue asks for);
- controls with a share nearby: a control B for which some shared GIF's past query is
  close enough to count (its results may move: the price of remembering);
- controls with none nearby: nothing counts, so nothing may move.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from search_app.embedders.sbert import Embedder
from search_app.records import GifRecord
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.ranking import SHARE_BOOST, SHARE_FLOOR, SHARE_REACH
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from search_app.store.binding import ModelBinding
from search_app.store.client import GifStore
from search_app.store.usage import UsageLog
from search_eval.metrics import RANK_DEPTH, measure_strata, rank_of, stratum_of
from search_eval.run import TextVectors
from search_eval.splits import group_by_gif

ProgressFactory = Callable[[int, str], Callable[[int], None]]
GROUPS = ("shared", "control, a share nearby", "control, none nearby")


def _no_progress(total: int, label: str) -> Callable[[int], None]:
    return lambda n: None


class KnownQueries:
    """The embedder, answering a query it embedded in the batch from that batch (the same
    vector up to float rounding, without a model call per search)."""

    def __init__(self, vectors: TextVectors) -> None:
        self.vectors = vectors
        self.embedder = vectors.embedder

    def __getattr__(self, name: str) -> Any:
        return getattr(self.embedder, name)

    def embed_query(self, text: str) -> np.ndarray:
        """The query's vector: from the batch when it is there."""
        if self.vectors.has(text):
            return np.asarray(self.vectors.of([text])[0])
        return self.embedder.embed_query(text)


def draw(key: str, seed: int) -> bytes:
    """A seeded, stable ordering key."""
    return hashlib.blake2b(f"{seed}:{key}".encode()).digest()


def evaluate_share_replay(
    rows: Sequence[GifRecord],
    embedder: Embedder,
    settings: Settings,
    seed: int = 0,
    progress: ProgressFactory = _no_progress,
) -> dict[str, object]:
    """Replay shares on rows (see the module); return the figures as JSON-ready data."""
    groups = group_by_gif(rows)
    multi = sorted(
        (g for g in groups.values() if len(g) > 1), key=lambda g: draw(g[0].gif_id, seed)
    )
    pairs = []  # (target gif, A, B, shared?)
    for number, group in enumerate(multi):
        first, second = sorted(group, key=lambda r: draw(r.row_id, seed))[:2]
        pairs.append((first.gif_id, first, second, number % 2 == 0))
    held_out = {b.row_id for _, _, b, _ in pairs}
    indexed = [row for row in rows if row.row_id not in held_out]
    findable = {gif: len(group) - (1 if any(r.row_id in held_out for r in group) else 0)
                for gif, group in groups.items()}  # fmt: skip
    vectors = TextVectors(embedder, settings.batch_size)
    vectors.add([r.description for r in rows], progress)
    with tempfile.TemporaryDirectory(prefix="gifsearch-share-replay-") as scratch:
        name = (
            f"share-replay-{hashlib.blake2b(str(len(indexed)).encode(), digest_size=4).hexdigest()}"
        )
        store = GifStore(replace(settings, collection=name), create=True)
        store.ensure_collection(ModelBinding(embedder.name, embedder.spec.ref, embedder.dimension))
        store.upsert_records(indexed, vectors.of([r.description for r in indexed]))
        usage = UsageLog(Path(scratch) / "usage.sqlite3", name)
        queries = KnownQueries(vectors)
        engine = SearchEngine(store, queries, store.require_binding(), usage)

        def ranks(label: str) -> list[int | None]:
            tick = progress(len(pairs), label)
            found = []
            for target, _, query, _ in pairs:
                hits = engine.search(SearchRequest(query.description, k=RANK_DEPTH))
                found.append(rank_of(target, [h.gif_id for h in hits]))
                tick(1)
            return found

        before = ranks("share replay: before")
        tick = progress(sum(shared for *_, shared in pairs), "share replay: sharing")
        for target, first, _, shared in pairs:
            if shared:
                engine.search(SearchRequest(first.description, k=RANK_DEPTH))
                engine.remember_share(target, first.description)
                tick(1)
        after = ranks("share replay: after")
        memory = usage.memory()
        nearby = [
            bool(memory.closeness(queries.embed_query(query.description), SHARE_FLOOR))
            for _, _, query, _ in pairs
        ]
    kinds = [GROUPS[0] if shared else GROUPS[1] if near else GROUPS[2]
             for (*_, shared), near in zip(pairs, nearby, strict=True)]  # fmt: skip
    result: dict[str, object] = {
        "gifs": len(pairs),
        "indexed": len(indexed),
        "settings": {"floor": SHARE_FLOOR, "boost": SHARE_BOOST, "reach": SHARE_REACH},
    }
    for kind in GROUPS:
        chosen = [i for i, k in enumerate(kinds) if k == kind]
        if not chosen:
            continue
        strata = [stratum_of(findable[pairs[i][0]]) for i in chosen]
        clusters = [pairs[i][0] for i in chosen]
        measured = measure_strata([after[i] for i in chosen], [before[i] for i in chosen],
                                  strata, clusters)  # fmt: skip
        unshared = measure_strata([before[i] for i in chosen], None, strata, clusters)
        result[kind] = {
            stratum: {
                "queries": m.queries,
                "recall@10_before": round(unshared[stratum].metrics["recall@10"].value, 4),
                "recall@10_after": round(m.metrics["recall@10"].value, 4),
                "change": m.recall10_vs_baseline.to_dict() if m.recall10_vs_baseline else None,
            }
            for stratum, m in measured.items()
        }
    return result


def format_share_replay(data: dict[str, object]) -> str:
    """The share replay's figures as a table."""
    knobs = data["settings"]
    lines = [
        f"share replay: {data['gifs']} GIFs with 2+ descriptions, {data['indexed']} rows "
        f"indexed; floor {knobs['floor']}, boost {knobs['boost']}, reach {knobs['reach']}",  # type: ignore[index]  # JSON-ready data
        f"{'group':<26} {'stratum':>7} {'queries':>8} {'R@10 before':>12} {'after':>7} "
        f"{'change [95% CI]':>26}",
    ]
    for kind in GROUPS:
        for stratum, cell in data.get(kind, {}).items():  # type: ignore[attr-defined]  # JSON-ready data
            change = cell["change"]
            shown = (f"{change['value']:+.4f} [{change['low']:+.4f}, {change['high']:+.4f}]"
                     if change else "")  # fmt: skip
            lines.append(
                f"{kind:<26} {stratum:>7} {cell['queries']:>8} {cell['recall@10_before']:>12.4f} "
                f"{cell['recall@10_after']:>7.4f} {shown:>26}"
            )
    return "\n".join(lines)
