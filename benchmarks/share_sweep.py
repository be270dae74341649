"""Sweep of the share boost's knobs (floor, boost, reach) on the share-replay protocol.

    python benchmarks/share_sweep.py [--source tgif-sample ...] [--out FILE]

Sets up what `gifsearch eval --protocol share-replay` does (search_eval/sharing.py: every
GIF with 2+ descriptions gives A, kept in the index, and B, held out; half the GIFs are
shared for their A) and, for every B, ranks the candidates once with search's own code
(EvalProbe: soft-best over the nearest rows, SHARE_DEPTH GIFs past the page), then re-ranks
them with ranking.remember under each setting, offline: recall@10 of the shared targets
and of the controls with a share nearby, by stratum, against no shares. The setting
search ships is the one `gifsearch eval --protocol share-replay` then measures for real.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from ingest.sources import open_source, read_together  # noqa: E402
from search_app.embedders.query_embedder import load_for_settings  # noqa: E402
from search_app.retrieval.engine import SearchEngine  # noqa: E402
from search_app.retrieval.probe import EvalProbe  # noqa: E402
from search_app.retrieval.ranking import SHARE_DEPTH, ShareBoost, remember  # noqa: E402
from search_app.settings import Settings  # noqa: E402
from search_app.store.binding import ModelBinding  # noqa: E402
from search_app.store.client import GifStore  # noqa: E402
from search_eval.metrics import RANK_DEPTH, stratum_of  # noqa: E402
from search_eval.run import TextVectors  # noqa: E402
from search_eval.sharing import replay_pairs  # noqa: E402

FLOORS = (0.25, 0.3, 0.4, 0.5)
BOOSTS = (0.1, 0.2, 0.3, 0.4)
REACHES = (0.3, 0.5)


def main() -> int:
    """Index, rank once, re-rank under each setting, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", nargs="+", default=["tgif-sample"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    settings = Settings(model="minilm", device="cpu")
    sources = [open_source(spec, settings.cache_dir, 5.0) for spec in args.source]
    rows, _ = read_together(sources, None, args.seed)
    embedder = load_for_settings(settings.model, settings)
    pairs, indexed, findable = replay_pairs(rows, args.seed)
    vectors = TextVectors(embedder, settings.batch_size)
    vectors.add([r.description for r in rows])
    print(f"{len(pairs)} pairs, {len(indexed)} rows indexed", file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        local = replace(settings, store_dir=Path(scratch), collection="share-sweep")
        store = GifStore(local, create=True)
        store.ensure_collection(ModelBinding(embedder.name, embedder.spec.ref, embedder.dimension))
        store.upsert_records(indexed, vectors.of([r.description for r in indexed]))
        probe = EvalProbe(SearchEngine(store, embedder, store.require_binding()))
        shared_a = np.stack([vectors.of([a.description])[0] for _, a, _, s in pairs if s])
        shared_ids = [target for target, _, _, s in pairs if s]
        cases = []
        for target, _, query, shared in pairs:
            vector = vectors.of([query.description])[0]
            ranked = probe.candidates(vector, RANK_DEPTH + SHARE_DEPTH).rank()
            ranked = ranked[: RANK_DEPTH + 1 + SHARE_DEPTH]
            cosines = shared_a @ vector
            closeness: dict[str, float] = {}
            for gif_id, cosine in zip(shared_ids, cosines.tolist(), strict=True):
                closeness[gif_id] = max(closeness.get(gif_id, -1.0), cosine)
            cases.append((target, shared, ranked, closeness, stratum_of(findable[target])))
    settings_rows = []
    for floor, boost, reach in itertools.product(FLOORS, BOOSTS, REACHES):
        knobs = ShareBoost(floor, boost, reach)
        found: dict[str, list[tuple[float, float]]] = {}  # group/stratum: (before, after)
        for target, shared, ranked, closeness, stratum in cases:
            near = {g: c for g, c in closeness.items() if c >= floor}
            group = "shared" if shared else ("control-near" if near else "control-far")
            order, _ = remember(ranked, near, knobs)
            before = float(target in [g.gif_id for g in ranked[:RANK_DEPTH]])
            after = float(target in [g.gif_id for g in order[:RANK_DEPTH]])
            for key in (f"{group}/all", f"{group}/{stratum}"):
                found.setdefault(key, []).append((before, after))
        cell: dict[str, float] = {"floor": floor, "boost": boost, "reach": reach}
        for key, pairs_found in found.items():
            values = np.asarray(pairs_found)
            cell[f"{key}/n"] = len(values)
            cell[f"{key}/before"] = round(float(values[:, 0].mean()), 4)
            cell[f"{key}/change"] = round(float(values[:, 1].mean() - values[:, 0].mean()), 4)
        settings_rows.append(cell)
    keys = ("shared/all", "shared/1", "control-near/all", "control-near/1", "control-far/all")
    print(f"{'floor':>5} {'boost':>5} {'reach':>5}  " + " ".join(f"{k:>17}" for k in keys))
    for row in settings_rows:
        shown = [f"{row.get(k + '/change', 0):+.4f} ({int(row.get(k + '/n', 0))})" for k in keys]
        print(
            f"{row['floor']:>5} {row['boost']:>5} {row['reach']:>5}  "
            + " ".join(f"{s:>17}" for s in shown)
        )
    if args.out:
        args.out.write_text(json.dumps({"sources": args.source, "rows": settings_rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
