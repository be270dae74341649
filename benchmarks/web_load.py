"""The web app under load: concurrent gradio_client workers sending searches to /search.

Run (it fills /tmp/loadstore from the bundled sample first when the store is missing):

    python benchmarks/web_load.py [--store /tmp/loadstore] [--searches 1000] [--clients 20]

Launches the app on 127.0.0.1 with its real launch settings, then 20 workers (one Client
each) share 1,000 searches (real descriptions from the sample, seeded). Every answer is
checked: a list of hits with the expected keys, scores descending, one hit per GIF, and
for the first --known queries the top GIF that SearchEngine.search gives on the same
store. Prints p50/p90/p99 of the successful calls and the counts: ok, queue_full (a clean
"queue is full" refusal) and errors (anything else, each listed).

tests/web/test_web_load.py imports run_load from here by path (benchmarks/ is not a
package).
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gradio_client import Client  # noqa: E402
from gradio_client.utils import QueueError  # noqa: E402

from ingest.sources import bundled_sample_path  # noqa: E402
from search_app.retrieval.engine import SearchEngine  # noqa: E402
from search_app.retrieval.request import SearchRequest  # noqa: E402
from search_app.settings import Settings  # noqa: E402
from search_app.web.app import QUEUE_MAX_SIZE, LaunchOptions, build_app, launch_app  # noqa: E402

DEFAULT_STORE = Path("/tmp/loadstore")
DEFAULT_SEARCHES = 1_000
DEFAULT_CLIENTS = 20
DEFAULT_KNOWN = 50  # queries whose top GIF is checked against SearchEngine.search
DEFAULT_TIME_LIMIT_S = 900.0
CALL_TIMEOUT_S = 120.0  # one search waiting longer than this counts as an error
WARMUP_SEARCHES = 5
K = 12
LOAD_HOST = "127.0.0.1"  # the only address the generator will send to
HIT_KEYS = frozenset({"gif_id", "url", "score", "description", "other_descriptions"})  # at least
QUEUE_FULL_TEXT = "Queue is full"  # gradio_client's QueueError: "Queue is full! Please..."
MAX_TOP_SCORE_GAP = 1e-4  # top GIFs closer than this are a tie; no expected top is kept


@dataclass(frozen=True)
class LoadReport:
    """What a load run saw: counts, the failures' messages and the successes' latencies."""

    sent: int
    ok: int
    queue_full: int
    errors: tuple[str, ...]
    not_sent: int  # left undone when the time limit ran out
    ok_ms: tuple[float, ...]
    wall_s: float


def expected_results(engine: SearchEngine, queries: Sequence[str], k: int) -> dict[str, list]:
    """Return each query's GIF ids from SearchEngine.search, leaving out tied tops."""
    expected: dict[str, list] = {}
    for query in dict.fromkeys(queries):
        hits = engine.search(SearchRequest(query, k))
        if len(hits) > 1 and hits[0].score - hits[1].score < MAX_TOP_SCORE_GAP:
            continue  # either GIF may come first
        expected[query] = [hit.gif_id for hit in hits]
    return expected


def find_problem(hits: object, k: int, expected_ids: Sequence[str] | None = None) -> str | None:
    """Return why hits is not a correct /search answer for k results, or None when it is."""
    if not isinstance(hits, list) or not hits:
        return f"not a non-empty list: {hits!r:.80}"
    if len(hits) > k:
        return f"{len(hits)} hits for k={k}"
    for hit in hits:
        if not isinstance(hit, dict) or not HIT_KEYS.issubset(hit):
            return f"bad hit: {hit!r:.120}"
        if not isinstance(hit["gif_id"], str) or not isinstance(hit["score"], int | float):
            return f"bad gif_id or score: {hit!r:.120}"
    scores = [hit["score"] for hit in hits]
    if scores != sorted(scores, reverse=True):
        return f"scores not descending: {scores}"
    ids = [hit["gif_id"] for hit in hits]
    if len(set(ids)) != len(ids):
        return "a GIF appears twice"
    if expected_ids is not None:
        if len(ids) != len(expected_ids):
            return f"{len(ids)} hits, SearchEngine.search gave {len(expected_ids)}"
        if ids[0] != expected_ids[0]:
            return f"top GIF {ids[0]}, SearchEngine.search gave {expected_ids[0]}"
    return None


def check_local(url: str) -> None:
    """Raise ValueError unless url points at 127.0.0.1: this generator never leaves the box."""
    host = urlsplit(url).hostname
    if host != LOAD_HOST:
        raise ValueError(f"refusing to load {url!r}: only http://{LOAD_HOST}:PORT is allowed")


def run_load(
    url: str,
    queries: Sequence[str],
    k: int = K,
    clients: int = DEFAULT_CLIENTS,
    expected: Mapping[str, Sequence[str]] | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    call_timeout_s: float = CALL_TIMEOUT_S,
) -> LoadReport:
    """Send every query once to url's /search from `clients` threads, one Client each.

    Workers stop taking queries when time_limit_s has passed (the rest count as not_sent);
    a call waits at most call_timeout_s. A clean "queue is full" refusal is queue_full, a
    wrong answer or any other exception is an error.
    """
    check_local(url)
    expected = expected or {}
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for query in queries:
        todo.put(query)
    lock = threading.Lock()
    ok_ms: list[float] = []
    errors: list[str] = []
    counts = {"sent": 0, "queue_full": 0}
    started = time.monotonic()
    deadline = started + time_limit_s

    def record_error(message: str) -> None:
        with lock:
            errors.append(message)

    def work() -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # a failed connect is reported, not raised
            record_error(f"connect: {type(exc).__name__}: {exc}")
            return
        try:
            while time.monotonic() < deadline:
                try:
                    query = todo.get_nowait()
                except queue.Empty:
                    return
                with lock:
                    counts["sent"] += 1
                outcome, millis = call_search(client, query, k, expected.get(query), call_timeout_s)
                with lock:
                    if outcome is None:
                        ok_ms.append(millis)
                    elif outcome == QUEUE_FULL_TEXT:
                        counts["queue_full"] += 1
                    else:
                        errors.append(f"{query!r}: {outcome}")
        finally:
            client.close()

    threads = [threading.Thread(target=work, name=f"load-{n}") for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadReport(
        sent=counts["sent"],
        ok=len(ok_ms),
        queue_full=counts["queue_full"],
        errors=tuple(errors),
        not_sent=todo.qsize(),
        ok_ms=tuple(ok_ms),
        wall_s=time.monotonic() - started,
    )


def call_search(
    client: Client, query: str, k: int, expected_ids: Sequence[str] | None, timeout_s: float
) -> tuple[str | None, float]:
    """Return (None, ms) for a correct answer, else (QUEUE_FULL_TEXT or the problem, ms)."""
    started = time.perf_counter()
    job = client.submit(query, k, api_name="/search")
    try:
        hits = job.result(timeout=timeout_s)
    except FutureTimeout:
        job.cancel()
        return f"no answer within {timeout_s:g} s", (time.perf_counter() - started) * 1000
    except QueueError as exc:
        full = QUEUE_FULL_TEXT in str(exc)
        return (QUEUE_FULL_TEXT if full else f"QueueError: {exc}"), 0.0
    except Exception as exc:  # every other failure is counted as an error
        return f"{type(exc).__name__}: {exc}", 0.0
    millis = (time.perf_counter() - started) * 1000
    return find_problem(hits, k, expected_ids), millis


def fill_store(store: Path) -> None:
    """Ingest the whole bundled sample into store with MiniLM (the CLI, as a user would)."""
    command = [sys.executable, "-m", "gifsearch", "ingest", "--source"]
    command += [str(bundled_sample_path()), "--all", "--model", "minilm", "--store", str(store)]
    print(f"filling {store}: {' '.join(command[1:])}", file=sys.stderr)
    subprocess.run(command, check=True)


def format_report(report: LoadReport) -> list[str]:
    """Return the report's lines: latency percentiles, counts and the first errors."""
    lines = []
    if report.ok_ms:
        ms = sorted(report.ok_ms)
        cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
        lines.append(
            f"ok calls: p50 {cuts[49]:.1f} ms  p90 {cuts[89]:.1f} ms  p99 {cuts[98]:.1f} ms  "
            f"mean {statistics.fmean(ms):.1f} ms  max {ms[-1]:.1f} ms"
        )
    rate = report.sent / report.wall_s if report.wall_s else 0.0
    lines.append(
        f"sent {report.sent}  ok {report.ok}  queue_full {report.queue_full}  "
        f"errors {len(report.errors)}  not_sent {report.not_sent}  "
        f"in {report.wall_s:.1f} s ({rate:.1f} searches/s)"
    )
    lines += [f"  error: {message}" for message in report.errors[:10]]
    return lines


def main() -> int:
    """Fill the store if needed, launch the app, run the load, print the figures."""
    import web_latency as latency  # a sibling script: benchmarks/ is on sys.path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--collection", default="gifs")
    parser.add_argument("--searches", type=int, default=DEFAULT_SEARCHES)
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument("--known", type=int, default=DEFAULT_KNOWN)
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if not (args.store / "chroma.sqlite3").exists():
        fill_store(args.store)
    settings = Settings(store_dir=args.store, collection=args.collection, device="cpu")
    engine = SearchEngine.open(settings)
    stats = engine.stats()
    queries = latency.pick_queries(args.searches + WARMUP_SEARCHES, args.seed)
    warmup, measured = queries[:WARMUP_SEARCHES], queries[WARMUP_SEARCHES:]
    expected = expected_results(engine, measured[: args.known], K)
    app = build_app(engine)
    options = LaunchOptions(port=latency.free_port(), blocked_paths=(str(args.store.resolve()),))
    server = launch_app(app, options, engine)
    url = server.url
    try:
        run_load(url, warmup, clients=1)
        report = run_load(
            url, measured, clients=args.clients, expected=expected, time_limit_s=args.time_limit
        )
    finally:
        server.close()

    load_1, load_5, _ = os.getloadavg()
    print(
        f"collection {stats.collection}: {stats.gifs:,} GIFs, {stats.descriptions:,} descriptions;"
        f" {engine.embedder.describe()}; {os.cpu_count()} CPUs, load {load_1:.2f}/{load_5:.2f};"
        f" k={K}; queue max {QUEUE_MAX_SIZE}; {args.clients} clients;"
        f" {len(expected)} known tops checked"
    )
    for line in format_report(report):
        print(line)
    return 0 if not report.errors and not report.not_sent else 1


if __name__ == "__main__":
    sys.exit(main())
