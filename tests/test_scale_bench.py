"""The scale benchmark's own logic: how it reads the ingest bar's ETAs, and that
`gifsearch bench scale` reaches it (the benchmark itself runs for hours: not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
