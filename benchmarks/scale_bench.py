"""Scale benchmark: gifsearch at 20,000, 125,000 and 1,000,000 rows, in the embedded store
and in a real `chroma run` server, on this machine.

Each collection is built once and cached (scale_build.py; --cache, default
$XDG_CACHE_HOME/gifsearch/scale, about 9 GB for the three sizes): synthetic TGIF-format
rows (the bundled sample's descriptions, then copies with one word swapped or added and a
new URL: about 1.65 descriptions per GIF), ingested by `gifsearch ingest` with MiniLM. Its
ingest figures are the build's, kept with the date and commit it ran at. Every run then
measures, per size and store kind, each in new processes:
- cold CLI search: `gifsearch search "..." -k 5` (median of --cold-runs, after one untimed);
- serve: seconds from starting `gifsearch serve` until its page answers, then until its
  first search through the API (/search) answers, and its RSS after --serve-searches more;
- search p50/p99 of SearchEngine.search (k 10) over --queries unseen queries, bare encode +
  one Chroma query, stats(), gifs(ids) and the first featured() call;
- HNSW recall@10 of Chroma's index against brute force on the first --recall-queries:
  a returned row counts when its exact score is at least the 10th best's (ann-benchmarks'
  definition; many synthetic rows share a description, so their vectors tie exactly and
  any 10 of the tied rows are a right answer); the overlap by row id is printed beside it.
Beside each figure, the share of the machine's cores other processes kept busy.

Time: the first run builds (a million rows: about 1.5 h of both cores for the embedded
store, encoding included, and about 40 min more for the server); a run on built
collections takes about 10 min for the three sizes.

Usage: python benchmarks/scale_bench.py [--sizes 20000,125000,1000000]
       [--stores embedded,server] [--cache DIR] [--build-only] [--out FILE]
(or `gifsearch bench scale ...`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bench  # sibling scripts: benchmarks/ is on sys.path
import scale_build as build
import scale_report
from measure import machine_busy_seconds, start_serve, wait_for_page
from scale_build import REPO, ScaleError, SizeDir, log

DEFAULT_SIZES = (20_000, 125_000, 1_000_000)
STORE_KINDS = ("embedded", "server")
QUERY = "a cat jumps off a table"
SERVE_TIMEOUT_S = 300.0
SEARCH_TIMEOUT_S = 120.0


def store_flags(size: SizeDir, kind: str, port: int | None) -> list[str]:
    """The gifsearch flags that open a size's collection in this store kind."""
    if kind == "server":
        return ["--chroma-host", "127.0.0.1", "--chroma-port", str(port)]
    return ["--store", str(size.embedded)]


@contextmanager
def opened(size: SizeDir, kind: str) -> Iterator[tuple[int | None, int | None]]:
    """Yield the port and pid of the size's Chroma server (started for the block), or
    (None, None) for the embedded store."""
    if kind != "server":
        yield None, None
        return
    with build.chroma_server(size.server) as (port, pid):
        yield port, pid


def timed_command(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run a gifsearch command in a new process; return its wall seconds and the others'
    CPU share meanwhile."""
    busy, started = machine_busy_seconds(), time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "gifsearch", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise ScaleError(f"gifsearch {args[0]} failed: {errors.decode(errors='replace')[-300:]}")
    return wall, build.others_share(busy, usage.ru_utime + usage.ru_stime, wall)


def cold_search(size: SizeDir, flags: list[str], runs: int) -> dict:
    """`gifsearch search` in new processes: median wall seconds after one untimed run."""
    env = build.command_env(size)
    args = ["search", QUERY, "-k", "5", *flags]
    timed_command(args, env)
    walls, shares = zip(*(timed_command(args, env) for _ in range(runs)), strict=True)
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "others_cpu_share": statistics.fmean(shares),
    }


def api_search(base: str, query: str, k: int) -> None:
    """One search through the served app's API (/search), waited for to the end (each
    request on its own connection: a kept-alive one was reset under load)."""
    import httpx

    event = httpx.post(
        f"{base}/gradio_api/call/search",
        json={"data": [query, k, 0, None, False]},
        timeout=SEARCH_TIMEOUT_S,
    )
    event.raise_for_status()
    event_id = event.json()["event_id"]
    url = f"{base}/gradio_api/call/search/{event_id}"
    with httpx.stream("GET", url, timeout=SEARCH_TIMEOUT_S) as stream:
        for line in stream.iter_lines():
            if line.startswith("event: error"):
                raise ScaleError(f"the served search failed: {line}")
            if line.startswith("event: complete"):
                return
    raise ScaleError("the served search ended without an answer")


def serve_once(size: SizeDir, flags: list[str], queries: list[str], searches: int) -> dict:
    """Start `gifsearch serve`; time its page and its first search; read its memory."""
    sys.path.insert(0, str(REPO))
    from tests.chroma_server import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    busy, started = machine_busy_seconds(), time.perf_counter()
    server = start_serve(flags, port, build.command_env(size), REPO)
    try:
        ready = wait_for_page(server, port, started, SERVE_TIMEOUT_S, ScaleError)
        api_search(base, queries[0], 10)
        first = time.perf_counter() - started - ready
        after_first = build.process_memory(server.pid)
        for text in queries[1 : 1 + searches]:
            api_search(base, text, 10)
        wall = time.perf_counter() - started
        after = build.process_memory(server.pid)
        own = build.process_cpu_s(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "ready_s": ready,
        "first_search_s": first,
        "rss_after_first_mib": after_first["rss_mib"],
        "rss_mib": after["rss_mib"],
        "peak_rss_mib": after["peak_rss_mib"],
        "others_cpu_share": build.others_share(busy, own, wall),
    }


def serve_figures(
    size: SizeDir, flags: list[str], queries: list[str], args: argparse.Namespace
) -> dict:
    """serve_once --serve-runs times after an untimed one (the file cache warm); medians."""
    serve_once(size, flags, queries, 0)
    runs = [serve_once(size, flags, queries, args.serve_searches) for _ in range(args.serve_runs)]
    figures = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    figures["runs"] = runs
    return figures


def write_queries(path: Path, count: int) -> None:
    """Unseen queries: sample descriptions with one word swapped or added (seeded)."""
    rows = bench.sample_rows()
    rng = random.Random(7)
    picked = rng.sample(rows, count)
    path.write_text("".join(bench.perturb(d, rng) + "\n" for _, d in picked), encoding="utf-8")


def measure(size: SizeDir, kind: str, args: argparse.Namespace, queries: Path) -> dict:
    """Every per-run figure of one size in one store kind."""
    texts = queries.read_text(encoding="utf-8").splitlines()
    with opened(size, kind) as (port, pid):
        flags = store_flags(size, kind, port)
        log(f"{size.rows:,} rows, {kind}: cold CLI search")
        cold = cold_search(size, flags, args.cold_runs)
        log(f"{size.rows:,} rows, {kind}: serve")
        served = serve_figures(size, flags, texts, args)
        log(f"{size.rows:,} rows, {kind}: engine latency, lookups and recall")
        task = {
            "kind": "engine",
            "store": str(size.embedded),
            "port": port,
            "cache": str(size.model_cache),
            "queries": str(queries),
            "k": 10,
            "recall_queries": args.recall_queries,
            "vectors": str(size.vectors),
            "ids": str(size.ids),
        }
        engine = build.run_worker(task)
        server_memory = build.process_memory(pid) if pid else None
    return {"cold": cold, "serve": served, "engine": engine, "server_memory": server_memory}


def parse_stores(text: str) -> list[str]:
    """argparse type: comma-separated store kinds out of embedded and server."""
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    if not kinds or any(kind not in STORE_KINDS for kind in kinds):
        raise argparse.ArgumentTypeError(f"{text!r}: use embedded, server or embedded,server")
    return kinds


def default_cache() -> Path:
    """$XDG_CACHE_HOME/gifsearch/scale (or ~/.cache/gifsearch/scale)."""
    from search_app.settings import default_cache_dir

    return default_cache_dir() / "scale"


def parser_of(prog: str | None) -> argparse.ArgumentParser:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=bench.parse_sizes, default=list(DEFAULT_SIZES))
    parser.add_argument("--stores", type=parse_stores, default=list(STORE_KINDS))
    parser.add_argument("--cache", type=Path, help="where the collections are kept")
    parser.add_argument("--build-only", action="store_true", help="build, measure nothing")
    parser.add_argument("--queries", type=int, default=300, help="timed searches (300)")
    parser.add_argument("--recall-queries", type=int, default=200, help="recall@10 (200)")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold CLI searches (5)")
    parser.add_argument("--serve-runs", type=int, default=2, help="timed serve starts (2)")
    parser.add_argument("--serve-searches", type=int, default=20, help="(20) before its RSS")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    return parser


def run(args: argparse.Namespace) -> int:
    """Build what is missing, measure, print the report."""
    cache = args.cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    machine = bench.describe_machine()
    started = time.perf_counter()
    report: dict = {"machine": machine, "cache": str(cache), "sizes": {}}
    queries = cache / "queries.txt"
    write_queries(queries, max(args.queries, args.recall_queries))
    for rows in args.sizes:
        size = SizeDir.of(cache, rows)
        builds = {"embedded": build.build_embedded(size)}
        if "server" in args.stores:
            builds["server"] = build.build_server(size)
        report["sizes"][rows] = {kind: {"build": builds[kind]} for kind in args.stores}
    if not args.build_only:
        for rows in args.sizes:
            size = SizeDir.of(cache, rows)
            for kind in args.stores:
                report["sizes"][rows][kind].update(measure(size, kind, args, queries))
    report["seconds"] = time.perf_counter() - started
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.out}")
    print(scale_report.format_report(report))
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse the options and run (a bad option exits 2, a failed step 1)."""
    args = parser_of(prog).parse_args(argv)
    try:
        return run(args)
    except ScaleError as exc:
        print(f"scale: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
