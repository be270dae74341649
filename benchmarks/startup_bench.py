"""Instant search, measured: cold and warm search with the ONNX query embedder against the
sentence-transformers path, and whether both give the same answers.

On a 20,000-row MiniLM store (the sample, then perturbed copies, as benchmarks/bench.py
makes them), with its ONNX query embedder built as `gifsearch ingest` builds it:
- cold: `gifsearch search "..." -k 5` wall time from a new process (the OS file cache warm:
  one untimed run first), with the ONNX path and forced to sentence-transformers;
- serve: seconds from starting `gifsearch serve` until its page answers;
- warm, in this process: query encoding p50/p99 (ONNX, sentence-transformers bf16),
  SearchEngine.search p50/p99, and the bare path (encode + one Chroma query of k rows);
- same answers: top-10 GIF lists over 300 sample queries, ONNX vs sentence-transformers
  fp32 (what the ONNX build is checked against) and bf16 (the CPU's default), differences
  outside score ties within 1e-6 counted.

Usage: python benchmarks/startup_bench.py [--rows 20000] [--queries 300] [--cold-runs 7]
       [--out FILE] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from search_app.embedders.sbert import Embedder
from search_app.settings import Settings

REPO = Path(__file__).resolve().parents[1]
TIE = 1e-6
QUERY = "a cat jumps off a table"
SERVE_TIMEOUT_S = 120.0  # a serve that answers no page by then failed, not slowed


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"startup: {message}", file=sys.stderr, flush=True)


def build_store(root: Path, rows: int) -> tuple[Settings, list[str]]:
    """Ingest rows into a fresh store (bf16, as ingest does here) and build its ONNX query
    embedder; return the settings and unseen sample queries."""
    import bench  # a sibling script: benchmarks/ is on sys.path

    from ingest.job import IngestOptions, run_ingest
    from search_app.embedders.query_embedder import ensure_query_embedder, load_for_settings

    sample = bench.sample_rows()
    source = root / "rows.tsv"
    source.write_text("".join(bench.synthetic_lines(sample, rows)), encoding="utf-8")
    settings = Settings(store_dir=root / "store", cache_dir=root / "cache", model="minilm")
    loaded = []

    def loader(model: str, s: Settings) -> Embedder:
        loaded.append(load_for_settings(model, s))
        return loaded[-1]

    run_ingest(IngestOptions(source=str(source), limit=None), settings, loader=loader)
    log(ensure_query_embedder(loaded[0], settings) or "ONNX query embedder already built")
    queries = [description for _, description in sample[-2_000:]]
    return settings, queries


def time_command(args: list[str], env: dict[str, str]) -> float:
    """Run a gifsearch command in a new process; return its wall seconds."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gifsearch", *args],
        check=True,
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    return time.perf_counter() - started


def cold_searches(settings: Settings, runs: int, backend: str) -> dict[str, float]:
    """Wall seconds of `gifsearch search` from new processes (one untimed run first)."""
    env = {**os.environ, "GIFSEARCH_CACHE_DIR": str(settings.cache_dir), "HF_HUB_OFFLINE": "1"}
    args = ["search", QUERY, "-k", "5", "--store", str(settings.store_dir)]
    args += ["--query-backend", backend]
    time_command(args, env)
    walls = [time_command(args, env) for _ in range(runs)]
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls)}


def serve_to_page(settings: Settings, runs: int) -> dict[str, float]:
    """Seconds from starting `gifsearch serve` until its page answers 200."""
    from measure import start_serve, wait_for_page  # a sibling script

    from tests.chroma_server import free_port

    env = {**os.environ, "GIFSEARCH_CACHE_DIR": str(settings.cache_dir), "HF_HUB_OFFLINE": "1"}
    walls = []
    for run in range(runs + 1):
        port = free_port()
        started = time.perf_counter()
        server = start_serve(["--store", str(settings.store_dir)], port, env, REPO)
        try:
            wall = wait_for_page(
                server, port, started, SERVE_TIMEOUT_S, lambda line: SystemExit(f"startup: {line}"),
                request_timeout_s=1.0,
            )  # fmt: skip
            if run:  # the first one warms the file cache
                walls.append(wall)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls)}


def warm_figures(settings: Settings, queries: list[str]) -> dict[str, object]:
    """Encoding, search and bare-path latencies in this process, and the answers check."""
    from dataclasses import replace

    from search_app.embedders.query_embedder import load_for_settings, load_query_embedder
    from search_app.retrieval.engine import SearchEngine
    from search_app.retrieval.request import SearchRequest
    from search_app.store.client import GifStore

    store = GifStore(settings)
    binding = store.require_binding()
    fast = load_query_embedder(binding.model, settings)
    slow_bf16 = load_for_settings(binding.model, replace(settings, precision="bf16"))
    slow_fp32 = load_for_settings(binding.model, replace(settings, precision="fp32"))
    engine = SearchEngine(store, fast, binding)
    for text in queries[:20]:
        engine.search(SearchRequest(text, 10))
        slow_bf16.embed_query(text)
    timings: dict[str, list[float]] = {
        k: [] for k in ("encode_onnx", "encode_st_bf16", "search", "query", "bare")
    }
    for text in queries:
        started = time.perf_counter()
        engine.search(SearchRequest(text, 10))
        timings["search"].append(time.perf_counter() - started)
        started = time.perf_counter()
        vector = fast.embed_query(text)
        encoded = time.perf_counter()
        store.query(vector, 10)
        done = time.perf_counter()
        timings["encode_onnx"].append(encoded - started)
        timings["query"].append(done - encoded)
        timings["bare"].append(done - started)
        started = time.perf_counter()
        slow_bf16.embed_query(text)
        timings["encode_st_bf16"].append(time.perf_counter() - started)
    from measure import percentiles_ms  # a sibling script

    latency = {name: percentiles_ms(values) for name, values in timings.items()}
    answers = {}
    for label, slow in (("st_fp32", slow_fp32), ("st_bf16", slow_bf16)):
        other = SearchEngine(store, slow, binding)
        identical = tie_only = differ = 0
        for text in queries:
            request = SearchRequest(text, 10)
            a, b = engine.search(request), other.search(request)
            if [h.gif_id for h in a] == [h.gif_id for h in b]:
                identical += 1
            elif len(a) == len(b) and all(
                x.gif_id == y.gif_id or abs(x.score - y.score) < TIE
                for x, y in zip(a, b, strict=True)
            ):
                tie_only += 1
            else:
                differ += 1
        answers[label] = {"identical": identical, "ties_only": tie_only, "differ": differ}
    ratio = latency["search"]["p50_ms"] / latency["bare"]["p50_ms"]
    return {
        "latency": latency,
        "search_vs_bare": ratio,
        "answers": answers,
        "fast": fast.describe(),
    }


def format_report(report: dict) -> str:
    """The figures as a few plain lines."""
    cold, lat = report["cold"], report["warm"]["latency"]
    lines = [
        f"store: {report['rows']:,} rows; {report['queries']} queries; load average before "
        f"{report['load_average_before']}",
        f"cold `gifsearch search -k 5`, ONNX: median {cold['onnx']['median_s']:.2f} s "
        f"(min {cold['onnx']['min_s']:.2f}, max {cold['onnx']['max_s']:.2f})",
        f"cold, sentence-transformers:   median {cold['sentence-transformers']['median_s']:.2f} s",
        f"serve until its page answers:  median {report['serve']['median_s']:.2f} s",
        f"{'warm (this process)':<30} {'p50 ms':>8} {'p99 ms':>8}",
    ]
    for name in ("encode_onnx", "encode_st_bf16", "query", "bare", "search"):
        lines.append(f"  {name:<28} {lat[name]['p50_ms']:>8.2f} {lat[name]['p99_ms']:>8.2f}")
    lines.append(
        f"SearchEngine.search / (encode + one Chroma query): {report['warm']['search_vs_bare']:.2f}"
    )
    for label, counts in report["warm"]["answers"].items():
        lines.append(
            f"top-10 vs {label}: {counts['identical']} identical, {counts['ties_only']} differ "
            f"only in ties, {counts['differ']} differ"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Build the store, measure, print (and write) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="500 rows, 20 queries, 2 runs")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.queries, args.cold_runs = 500, 20, 2
    sys.path.insert(0, str(REPO))  # for tests.chroma_server (free_port)
    report: dict[str, object] = {
        "rows": args.rows,
        "queries": args.queries,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="gifsearch-startup-") as scratch:
        log(f"ingesting {args.rows:,} rows")
        settings, queries = build_store(Path(scratch), args.rows)
        queries = queries[: args.queries]
        log("cold searches")
        report["cold"] = {
            backend: cold_searches(settings, args.cold_runs, backend)
            for backend in ("onnx", "sentence-transformers")
        }
        log("serve")
        report["serve"] = serve_to_page(settings, max(2, args.cold_runs // 2))
        log("warm latency and answers")
        report["warm"] = warm_figures(settings, queries)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_report(report))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main(sys.argv[1:]))
