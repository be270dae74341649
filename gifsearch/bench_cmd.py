"""`gifsearch bench`: run the speed benchmark (benchmarks/bench.py of a source checkout).

The benchmark's code is loaded only when the command runs; its options are its own
(`gifsearch bench --help` shows them).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

from gifsearch.console import PROG, report_error
from gifsearch.flags import Commands

BENCHMARKS_DIR = Path(__file__).resolve().parents[1] / "benchmarks"

BENCH_HELP = """Measure ingest throughput, re-ingest, query latency and CLIP cost on this machine.

Ingest (the whole job, into a fresh temporary store) against bare model.encode of the same
texts, per precision, then re-ingest of unchanged rows, search latency against bare encode
+ Chroma query, HNSW recall@10 against brute force, and the CLIP ViT-B/32 towers' cost.
Each measurement runs in its own process; progress goes to stderr, the tables to stdout.
Needs a source checkout (benchmarks/ is not installed). Its options: gifsearch bench --help

Example: gifsearch bench --out benchmarks/results/bench.json
         gifsearch bench --quick          (a smoke run on 100 rows, under a minute)
         gifsearch bench scale --help     (20k, 125k and 1M rows, built once and cached:
                                           benchmarks/scale_bench.py)
"""


def load_benchmark(name: str) -> ModuleType:
    """Import benchmarks/<name>.py (benchmarks/ holds scripts, put on sys.path as they
    expect when run directly). Raises FileNotFoundError without a source checkout."""
    path = BENCHMARKS_DIR / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; benchmarks/ comes with a source checkout")
    if str(BENCHMARKS_DIR) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS_DIR))
    return importlib.import_module(name)


def cmd_bench(args: argparse.Namespace) -> int:
    """Run benchmarks/bench.py with the options given after `bench` (or, after `bench
    scale`, benchmarks/scale_bench.py with the options after that)."""
    rest = list(args.rest)
    name, prog = "bench", f"{PROG} bench"
    if rest[:1] == ["scale"]:
        name, prog, rest = "scale_bench", f"{PROG} bench scale", rest[1:]
    try:
        bench = load_benchmark(name)
    except FileNotFoundError as exc:
        report_error(f"{exc}; run gifsearch bench from a source checkout")
        return 1
    return int(bench.main(rest, prog=prog))


def add_bench_parser(commands: Commands) -> None:
    """Register `gifsearch bench` (its options are parsed by benchmarks/bench.py)."""
    parser = commands.add_parser(
        "bench",
        allow_abbrev=False,
        help="measure ingest, query and CLIP speed on this machine",
        description=BENCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,  # --help goes to the benchmark, which knows its options
    )
    parser.set_defaults(func=cmd_bench, passes_args_on=True)  # main hands it the rest
