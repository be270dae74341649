"""The scale benchmark's own logic: how it reads the ingest bar's ETAs, and that
`gifsearch bench scale` reaches it (the benchmark itself runs for hours: not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gifsearch.bench_cmd import load_benchmark

REPO = Path(__file__).resolve().parents[1]
# What tqdm wrote for an ingest's embed bar (carriage returns between updates), cut down.
BAR_LOG = (
    "gifsearch: loading the model\n"
    "embed:   0%|          | 0/1000 [00:00<?, ?rows/s]\r"
    "embed:  10%|#         | 100/1000 [00:20<03:00, 5.00rows/s]\r"
    "embed:  26%|##6       | 260/1000 [00:52<02:28, 5.00rows/s]\r"
    "embed:  50%|#####     | 500/1000 [01:40<01:40, 5.00rows/s]\r"
    "embed:  80%|########  | 800/1000 [1:02:40<00:40, 5.00rows/s]\r"
)


def test_the_eta_at_each_checkpoint_is_compared_with_the_time_the_bar_still_took() -> None:
    build = load_benchmark("scale_build")
    checks = build.eta_checks(BAR_LOG, bar_s=240.0)  # the bar ran 240 s in all
    assert [c["at"] for c in checks] == [0.10, 0.25, 0.50]  # 75%: 62 min in, past the end
    assert [c["eta_s"] for c in checks] == [180.0, 148.0, 100.0]
    assert [c["took_s"] for c in checks] == [220.0, 188.0, 140.0]
    assert checks[0]["error"] == pytest.approx(180 / 220 - 1)


def test_tqdm_clock_readings_become_seconds() -> None:
    build = load_benchmark("scale_build")
    assert [build.seconds_of(t) for t in ("00:52", "1:02:40")] == [52.0, 3760.0]


def test_gifsearch_bench_scale_shows_the_scale_benchmark_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gifsearch", "bench", "scale", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0
    assert "gifsearch bench scale" in done.stdout and "--sizes" in done.stdout


def test_recall_counts_a_row_tied_with_the_tenth_best_whatever_its_id() -> None:
    """Rows that share a vector tie exactly: any 10 of them are a right top 10, so recall
    counts a found row by its exact score, not by the id brute force happened to keep."""
    measure = load_benchmark("scale_measure")
    rng = np.random.default_rng(3)
    unique = rng.normal(size=(40, 8)).astype(np.float32)
    unique /= np.linalg.norm(unique, axis=1, keepdims=True)
    query = unique[0] + 0.05 * unique[1]
    vectors = np.concatenate([unique, unique, unique])  # row r, r + 40 and r + 80 tie
    (truth,), kth = measure.exact_top(vectors, query[None, :], measure.RECALL_K)
    best = np.argsort(-(unique @ query))[:4].tolist()  # the top 10: 3 + 3 + 3 + 1 of 3
    fourth = [best[3] + 40 * copy for copy in range(3)]
    assert len(truth & set(fourth)) == 1  # brute force kept one copy of the fourth
    other = next(row for row in fourth if row not in truth)
    found = [row + 40 * copy for row in best[:3] for copy in range(3)] + [other]
    assert len(set(found) & truth) == 9  # by id, the tie cut costs a row
    assert measure.tie_aware_recall(vectors, query, found, kth[0]) == 1.0
    worst = np.argsort(vectors @ query)[:3].tolist()  # three rows far from the top 10
    assert measure.tie_aware_recall(vectors, query, found[:7] + worst, kth[0]) == 0.7
    assert measure.tied_at_kth(vectors, query[None, :], kth).tolist() == [12]
