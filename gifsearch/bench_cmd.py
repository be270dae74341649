"""`gifsearch bench`: run the speed benchmark (benchmarks/bench.py of a source checkout)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

BENCH_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"

BENCH_HELP = """Measure ingest throughput, re-ingest, query latency and CLIP cost on this machine.

Ingest (the whole job, into a fresh temporary store) against bare model.encode of the same
texts, per precision (fp32, and bf16 where the CPU has it), at 10k and 20k rows, and at
100k rows in the faster precision (sizes above the bundled sample are synthetic copies),
with each run's peak RSS; then
re-ingest of unchanged rows, search latency p50/p99 against bare encode + Chroma query,
HNSW recall@10 against brute force, and the CLIP ViT-B/32 towers' cost. Each measurement
runs in its own process. The full run takes about 20 minutes on 2 cores; progress goes to
stderr, the tables to stdout. Needs a source checkout (benchmarks/ is not installed).

Example: gifsearch bench --out docs/bench.json
         gifsearch bench --quick          (a smoke run on 100 rows, under a minute)
"""


def load_bench_module() -> ModuleType | None:
    """Import benchmarks/bench.py by its path, or return None when it isn't there."""
    if not BENCH_SCRIPT.exists():
        return None
    spec = importlib.util.spec_from_file_location("gifsearch_bench_script", BENCH_SCRIPT)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark with the parsed options; a failed step is one line, exit 1."""
    from gifsearch.cli import notify

    bench = load_bench_module()
    if bench is None:
        notify(f"error: {BENCH_SCRIPT} not found; run gifsearch bench from a source checkout")
        return 1
    try:
        return int(bench.run_bench(args))
    except bench.BenchError as exc:
        notify(f"error: {exc}")
        return 1


def add_bench_parser(commands: argparse._SubParsersAction) -> None:
    """Register `gifsearch bench` (its options come from benchmarks/bench.py)."""
    parser = commands.add_parser(
        "bench",
        help="measure ingest, query and CLIP speed on this machine",
        description=BENCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench = load_bench_module()
    if bench is not None:
        bench.add_arguments(parser)
    parser.set_defaults(func=cmd_bench)
