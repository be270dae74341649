"""`gifsearch bench`: run the speed benchmark (benchmarks/bench.py of a source checkout)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
BENCH_SCRIPT = BENCHMARKS_DIR / "bench.py"

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


def load_benchmark(name: str) -> ModuleType:
    """Import benchmarks/<name>.py by its path (benchmarks/ holds scripts, not a package).

    The module is registered in sys.modules as gifsearch_benchmark_<name> (a @dataclass
    looks its module up there), and a later call returns that module rather than running
    the script again. Raises FileNotFoundError when the script isn't there (benchmarks/
    comes with a source checkout, not with an installed package), ImportError when it
    can't be loaded.
    """
    module_name = f"gifsearch_benchmark_{name}"
    loaded = sys.modules.get(module_name)
    if loaded is not None:
        return loaded
    path = BENCHMARKS_DIR / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; benchmarks/ comes with a source checkout")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}", name=module_name, path=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark with the parsed options; a failed step is one line, exit 1."""
    from gifsearch.cli import notify

    if not BENCH_SCRIPT.is_file():
        notify(f"error: {BENCH_SCRIPT} not found; run gifsearch bench from a source checkout")
        return 1
    bench = load_benchmark("bench")  # the module add_bench_parser loaded, not a second run
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
    if BENCH_SCRIPT.is_file():
        load_benchmark("bench").add_arguments(parser)
    parser.set_defaults(func=cmd_bench)
