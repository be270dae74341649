"""Latency of searches through the web app's API (gradio_client), with the engine's own time.

Fill a store first, then run:

    gifsearch ingest --source ingest/data/tgif-sample.tsv --all --model minilm \\
        --store /tmp/websample
    python benchmarks/web_latency.py --store /tmp/websample --searches 200

Prints p50/p90/p99 of the round trip through the launched app (HTTP + queue + search) and
of SearchEngine.search alone on the same queries. Queries are real descriptions from the
sample (seeded), so each one is new to the model and the index.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gradio_client import Client  # noqa: E402

from ingest.sources import bundled_sample_path  # noqa: E402
from search_app.retrieval.engine import SearchEngine  # noqa: E402
from search_app.retrieval.request import SearchRequest  # noqa: E402
from search_app.settings import Settings  # noqa: E402
from search_app.web.app import LaunchOptions, build_app, launch_app  # noqa: E402

WARMUP_SEARCHES = 5
K = 12


def pick_queries(count: int, seed: int) -> list[str]:
    """Return count real descriptions from the bundled sample, seeded."""
    lines = bundled_sample_path().read_text(encoding="utf-8").splitlines()
    descriptions = [line.split("\t", 1)[1] for line in lines if "\t" in line]
    return random.Random(seed).sample(descriptions, count)


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summarize(label: str, millis: list[float]) -> str:
    """Return one line: p50, p90, p99, mean and max in ms."""
    figures = [f"p{round(f * 100)} {percentile(millis, f):7.1f} ms" for f in (0.5, 0.9, 0.99)]
    figures += [f"mean {statistics.fmean(millis):7.1f} ms", f"max {max(millis):7.1f} ms"]
    return f"{label:<28} " + "   ".join(figures)


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_calls(call: object, queries: list[str]) -> list[float]:
    """Return the wall time of call(query) for each query, in ms."""
    millis = []
    for query in queries:
        started = time.perf_counter()
        call(query)  # type: ignore[operator]  # call: a callable typed object
        millis.append((time.perf_counter() - started) * 1000)
    return millis


def main() -> int:
    """Launch the app on the store, run the searches, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/websample"))
    parser.add_argument("--collection", default="gifs")
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    settings = Settings(store_dir=args.store, collection=args.collection, device="cpu")
    engine = SearchEngine.open(settings)
    stats = engine.stats()
    app = build_app(engine)
    server = launch_app(app, LaunchOptions(port=free_port()), engine)
    client = Client(server.url, verbose=False)
    queries = pick_queries(args.searches + WARMUP_SEARCHES, args.seed)
    warmup, measured = queries[:WARMUP_SEARCHES], queries[WARMUP_SEARCHES:]
    try:
        for query in warmup:
            client.predict(query, K, api_name="/search")
        api_ms = time_calls(lambda q: client.predict(q, K, api_name="/search"), measured)
        engine_ms = time_calls(lambda q: engine.search(SearchRequest(q, K)), measured)
    finally:
        server.close()

    print(
        f"collection {stats.collection}: {stats.gifs:,} GIFs, {stats.descriptions:,} descriptions;"
        f" {engine.embedder.describe()}; {os.cpu_count()} CPUs; k={K}; {len(measured)} searches"
    )
    print(summarize("API (gradio_client /search)", api_ms))
    print(summarize("SearchEngine.search alone", engine_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
