"""Sweep poolings with exact cosines over every GIF: how soft-best's temperature and cap
trade recall@10 between sparsely and richly described target GIFs.

All-descriptions protocol (each description of a multi-description GIF is a query, its own
row hidden), brute force instead of Chroma, so every GIF of the set is ranked by
search_app.retrieval.ranking.pool_cosines (the function search calls). Prints recall@10 by stratum,
and each pooling's recall@10 minus best-only with a paired 95% cluster-bootstrap interval
(search_eval.metrics). `gifsearch eval` is the measurement of record; this is the sweep that
chose the temperature it checks.

Usage: python benchmarks/pooling_sweep.py [--source FILE ...] [--precision bf16|fp32]
(default: the bundled sample; add ../shared/data/tgif-multicaption-dev.tsv for the dev set)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ingest.sources import TsvSource, bundled_sample_path, read_together
from search_app.embedders.sbert import load_embedder
from search_app.retrieval.ranking import BEST_ONLY, Pooling, PoolingKind, pool_cosines
from search_eval.metrics import measure_strata, stratum_of

SWEEP = [
    BEST_ONLY,
    *(
        Pooling(PoolingKind.SOFT_BEST, t, cap)
        for t in (0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05)
        for cap in (0.02, 0.05)
    ),
    Pooling(PoolingKind.MAX_MEAN),
]
REPORTED = ("all", "1", "2", "10+")


def main(argv: list[str]) -> int:
    """Embed the rows, rank every GIF for every query under each pooling, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", nargs="+", default=[str(bundled_sample_path())])
    parser.add_argument("--precision", default="bf16")
    args = parser.parse_args(argv)
    rows, _ = read_together([TsvSource(Path(s), s) for s in args.source], None, 0)
    embedder = load_embedder("minilm", "cpu", args.precision)
    vectors = embedder.embed_texts([r.description for r in rows], 256).astype(np.float64)
    gif_index: dict[str, int] = {}
    groups = np.array([gif_index.setdefault(r.gif_id, len(gif_index)) for r in rows])
    sizes = np.bincount(groups)
    queries = np.flatnonzero(sizes[groups] > 1)
    print(f"{len(rows):,} rows, {len(gif_index):,} GIFs, {len(queries):,} queries", file=sys.stderr)
    ranks: dict[str, list[int | None]] = {p.label: [] for p in SWEEP}
    for number, q in enumerate(queries):
        keep = np.arange(len(rows)) != q  # the query's own row is hidden
        cosines = vectors[keep] @ vectors[q]
        target = groups[q]
        for pooling in SWEEP:
            scores = pool_cosines(cosines, groups[keep], len(gif_index), pooling)
            rank = 1 + int(np.sum(scores > scores[target]))
            ranks[pooling.label].append(rank if rank <= 10 else None)
        if number % 1000 == 0:
            print(f"{number:,} / {len(queries):,} queries", file=sys.stderr, flush=True)
    strata = [stratum_of(int(sizes[groups[q]]) - 1) for q in queries]
    clusters = [str(groups[q]) for q in queries]
    baseline = ranks[BEST_ONLY.label]
    print(f"{'pooling':<30}" + "".join(f"{s + ': R@10 - best [95% CI]':>34}" for s in REPORTED))
    for pooling in SWEEP:
        base = None if pooling == BEST_ONLY else baseline  # best-only: its own R@10
        result = measure_strata(ranks[pooling.label], base, strata, clusters)
        cells = []
        for stratum in REPORTED:
            if stratum not in result:
                cells.append(f"{'-':>34}")
                continue
            cell = result[stratum]
            if cell.recall10_vs_baseline is None:
                r10 = cell.metrics["recall@10"]
                cells.append(f"{f'R@10 {r10.value:.4f} (n={cell.queries})':>34}")
            else:
                d = cell.recall10_vs_baseline
                cells.append(f"{f'{d.value:+.4f} [{d.low:+.4f}, {d.high:+.4f}]':>34}")
        print(f"{pooling.label:<30}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
