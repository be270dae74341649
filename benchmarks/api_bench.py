"""Latency and throughput of the HTTP API against SearchEngine.search, at 20,000 rows.

    python benchmarks/api_bench.py [--rows 20000] [--work DIR] [--searches 300]
                                   [--clients 8] [--seconds 20] [--out FILE]

Builds (once, cached in --work) a collection of --rows rows (the bundled sample, then
perturbed copies: benchmarks/bench.py's synthetic rows) with its ONNX query embedder, then:
1. starts `gifsearch serve` on a free port, in its own process, as it is deployed;
2. times SearchEngine.search in this process on --searches real descriptions (unseen
   queries; the ONNX query embedder, as serve uses), k = 10;
3. times the same queries through GET /api/search and GET /v1/gifs/search (limit 10), one
   after another over one keep-alive connection (httpx), and reports each p50 as a
   multiple of the engine's;
4. runs --clients threads, each with its own connection, for --seconds against the native
   and the GIPHY endpoint in turn: answers per second, p50 and p99, errors (anything but
   200); and the engine's own single-process throughput beside it;
5. once the server holds the collection's categories and phrases (built in the background
   when the ingest kept none), times GET /v2/autocomplete on derived_bench.py's prefixes
   (real descriptions cut at a seeded random character), one after another: what a
   person typing waits for.
With --store DIR the collection is that store (e.g. the scale benchmark's 125,000 rows:
~/.cache/gifsearch/scale/125000/embedded, with --cache-dir beside it), its queries the
bundled sample's last descriptions.
The client threads run on the same 2 cores as the server: the throughput is the loopback
figure of this machine, client included. Prints a table (stdout), JSON with --out;
progress on stderr. About 2 minutes after the first build (which takes ~2 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

import derived_bench  # noqa: E402  # a sibling script: its prefixes
import httpx  # noqa: E402

from search_app.retrieval.engine import SearchEngine  # noqa: E402
from search_app.retrieval.request import SearchRequest  # noqa: E402
from search_app.settings import Settings  # noqa: E402

K = 10
WARMUP = 20
SERVE_TIMEOUT_S = 180.0
ENDPOINTS = {"native": "/api/search", "giphy": "/v1/gifs/search"}


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"api_bench: {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def build(work: Path, rows: int) -> tuple[Settings, list[str]]:
    """The cached collection of rows (ingested once) and unseen queries."""
    import startup_bench  # a sibling script: builds a store with its ONNX query embedder

    root = work / f"api-{rows}"
    settings = Settings(store_dir=root / "store", cache_dir=root / "cache", model="minilm")
    queries_file = root / "queries.json"
    if not queries_file.exists():
        log(f"building a {rows:,}-row collection in {root} (once)")
        root.mkdir(parents=True, exist_ok=True)
        settings, queries = startup_bench.build_store(root, rows)
        queries_file.write_text(json.dumps(queries))
    return settings, json.loads(queries_file.read_text())


def start_serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """`gifsearch serve` in its own process, once its API answers."""
    env = {**os.environ, "GIFSEARCH_CACHE_DIR": str(settings.cache_dir)}
    command = [sys.executable, "-m", "gifsearch", "serve", "--port", str(port)]
    command += ["--store", str(settings.store_dir)]
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO
    )
    started = time.monotonic()
    while True:
        if server.poll() is not None:
            raise SystemExit(f"api_bench: serve exited with {server.returncode}")
        if time.monotonic() - started > SERVE_TIMEOUT_S:
            server.terminate()
            raise SystemExit("api_bench: serve did not answer in time")
        try:
            url = f"http://127.0.0.1:{port}/api/featured?limit=1"
            if httpx.get(url, timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)


def timed(call: object, queries: list[str]) -> list[float]:
    """Milliseconds of call(query) for each query."""
    millis = []
    for query in queries:
        started = time.perf_counter()
        call(query)  # type: ignore[operator]  # a callable typed object
        millis.append((time.perf_counter() - started) * 1000)
    return millis


def params(path: str, query: str) -> dict[str, object]:
    """The query parameters of one search on an endpoint."""
    return {"q": query, "limit": K}


def wait_for_derived(base: str, timeout_s: float = 900.0) -> float:
    """Seconds until the server answers the collection's categories (built or read back)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if httpx.get(f"{base}/api/categories", timeout=30).json()["results"]:
            return time.monotonic() - started
        time.sleep(1.0)
    raise SystemExit("api_bench: the categories were not ready in time")


def load(base: str, queries: list[str], clients: int, seconds: float) -> dict[str, object]:
    """clients threads searching native and GIPHY in turn for seconds; their figures."""
    lock = threading.Lock()
    millis: list[float] = []
    errors: dict[str, int] = {}
    stop_at = time.monotonic() + seconds

    def client(number: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as session:
            step = number
            while time.monotonic() < stop_at:
                path = list(ENDPOINTS.values())[step % 2]
                query = queries[step % len(queries)]
                step += clients
                started = time.perf_counter()
                try:
                    answer = session.get(path, params=params(path, query))
                    status = str(answer.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                took = (time.perf_counter() - started) * 1000
                with lock:
                    millis.append(took)
                    if status != "200":
                        errors[status] = errors.get(status, 0) + 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "answers": len(millis),
        "per_s": round(len(millis) / wall, 1),
        "p50_ms": round(percentile(millis, 0.5), 1),
        "p99_ms": round(percentile(millis, 0.99), 1),
        "errors": errors,
    }


def main() -> int:
    """Build (once), serve, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gifsearch-api-bench"))
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--store", type=Path, help="an existing store to serve instead")
    parser.add_argument("--cache-dir", type=Path, help="its cache (the ONNX query embedder)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from tests.chroma_server import free_port

    if args.store is not None:
        import bench

        cache = args.cache_dir or args.store.parent / "cache"
        settings = Settings(store_dir=args.store, cache_dir=cache, model="minilm")
        queries = [description for _, description in bench.sample_rows()[-2_000:]]
    else:
        settings, queries = build(args.work, args.rows)
    queries = queries[: args.searches + WARMUP]
    warmup, measured = queries[:WARMUP], queries[WARMUP:]
    log("opening the engine in this process")
    engine = SearchEngine.open(settings)
    for query in warmup:
        engine.search(SearchRequest(query, K))
    engine_ms = timed(lambda q: engine.search(SearchRequest(q, K)), measured)
    port = free_port()
    log(f"starting gifsearch serve on port {port}")
    server = start_serve(settings, port)
    base = f"http://127.0.0.1:{port}"
    report: dict[str, object] = {
        "rows": engine.store.count_kind("description") if args.store else args.rows,
        "searches": len(measured),
        "engine": engine.embedder.describe(),
        "cpus": os.cpu_count(),
    }
    try:
        figures: dict[str, dict[str, float]] = {
            "engine": {"p50_ms": statistics.median(engine_ms),
                       "p99_ms": percentile(engine_ms, 0.99)},
        }  # fmt: skip
        with httpx.Client(base_url=base, timeout=30) as session:
            for name, path in ENDPOINTS.items():
                for query in warmup:
                    session.get(path, params=params(path, query)).raise_for_status()

                def one(query: str, path: str = path) -> None:
                    session.get(path, params=params(path, query)).raise_for_status()

                millis = timed(one, measured)
                figures[name] = {"p50_ms": statistics.median(millis),
                                 "p99_ms": percentile(millis, 0.99)}  # fmt: skip
        engine_p50 = figures["engine"]["p50_ms"]
        for name in ENDPOINTS:
            figures[name]["x_engine_p50"] = figures[name]["p50_ms"] / engine_p50
        report["sequential"] = {
            k: {m: round(v, 2) for m, v in f.items()} for k, f in figures.items()
        }
        log(f"{args.clients} clients for {args.seconds:.0f} s")
        report["load"] = load(base, measured, args.clients, args.seconds)
        report["engine_per_s"] = round(1000 / engine_p50, 1)
        log("waiting for the categories and phrases")
        report["derived_ready_s"] = round(wait_for_derived(base), 1)
        with httpx.Client(base_url=base, timeout=30) as session:
            # derived_bench's prefixes: real descriptions cut at a seeded random character
            prefixes = derived_bench.prefixes_and_past(len(measured))[0]

            def complete(prefix: str) -> None:
                session.get("/v2/autocomplete", params={"q": prefix}).raise_for_status()

            for prefix in prefixes[:WARMUP]:
                complete(prefix)
            millis = timed(complete, prefixes)
        report["autocomplete"] = {"p50_ms": round(statistics.median(millis), 2),
                                  "p99_ms": round(percentile(millis, 0.99), 2)}  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    load_1, load_5, _ = os.getloadavg()
    report["loadavg_1m_5m"] = [round(load_1, 2), round(load_5, 2)]
    print(format_report(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def format_report(report: dict) -> str:
    """The report as a small table."""
    lines = [
        f"{report['rows']:,} rows; {report['searches']} searches, k={K}; {report['engine']}; "
        f"{report['cpus']} CPUs; load average after {report['loadavg_1m_5m']}",
        f"{'one after another':<22} {'p50 ms':>8} {'p99 ms':>8} {'p50 / engine':>13}",
    ]
    for name, figures in report["sequential"].items():
        ratio = figures.get("x_engine_p50")
        lines.append(
            f"{name:<22} {figures['p50_ms']:>8.2f} {figures['p99_ms']:>8.2f} "
            f"{'' if ratio is None else f'{ratio:.2f}':>13}"
        )
    run = report["load"]
    lines.append(
        f"{run['clients']} clients, {run['seconds']} s (native and GIPHY in turn): "
        f"{run['answers']} answers, {run['per_s']}/s, p50 {run['p50_ms']} ms, "
        f"p99 {run['p99_ms']} ms, errors {run['errors'] or 0}; the engine alone, one process: "
        f"{report['engine_per_s']}/s"
    )
    done = report["autocomplete"]
    lines.append(
        f"GET /v2/autocomplete, one after another: p50 {done['p50_ms']} ms, p99 "
        f"{done['p99_ms']} ms (categories and phrases ready {report['derived_ready_s']} s "
        "after the first search)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
