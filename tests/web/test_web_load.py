"""The launched app under load: 20 gradio_client workers, every answer right or a clean refusal.

The load generator is benchmarks/web_load.py's run_load (imported by path); the benchmark
runs the same function with 1,000 searches on the whole sample.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from gifsearch.bench_cmd import load_benchmark
from search_app.embedders.sbert import Embedder
from search_app.retrieval.engine import SearchEngine
from search_app.settings import Settings
from tests.web.conftest import LaunchedApp, launch, pick_web_lines

CLIENTS = 20
QUICK_SEARCHES = 200  # the default run; the slow test sends the 1,000
FULL_SEARCHES = 1_000
DISTINCT_QUERIES = 40
K = 12
TINY_QUEUE = 2  # with 2 searches running and 20 clients, most calls find the queue full
TIME_LIMIT_S = 240.0  # under pytest's 300 s timeout: a stuck run fails with not_sent > 0


@pytest.fixture(scope="module")
def web_load() -> ModuleType:
    """benchmarks/web_load.py, imported by its path (benchmarks/ is not a package)."""
    return load_benchmark("web_load")


@pytest.fixture(scope="module")
def load_queries() -> list[str]:
    """Real descriptions stored in the web store, plus free sentences, seeded."""
    stored = sorted({line.rstrip("\n").split("\t", 1)[1] for line in pick_web_lines()})
    picked = random.Random(0).sample(stored, DISTINCT_QUERIES - 3)
    return [*picked, "a dog is running", "a man is dancing", "a cat jumps"]


@pytest.fixture(scope="module")
def expected(web_load: ModuleType, web_engine: SearchEngine, load_queries: list[str]) -> dict:
    """Each query's GIF ids from SearchEngine.search on the same store (ties left out)."""
    results = web_load.expected_results(web_engine, load_queries, K)
    assert len(results) >= DISTINCT_QUERIES // 2  # enough known tops to mean something
    return results


@pytest.fixture(scope="module")
def tiny_queue_app(
    web_settings: Settings, cached_loader: Callable, minilm: Embedder
) -> Iterator[LaunchedApp]:
    """The web app over the web store, launched by launch_app with a queue of 2."""
    launched = launch(web_settings, cached_loader, minilm, queue_max_size=TINY_QUEUE)
    assert launched.app._queue.max_size == TINY_QUEUE  # type: ignore[attr-defined]  # LaunchedApp.app: a gr.Blocks typed object
    yield launched
    launched.close()


def searches(queries: list[str], count: int) -> list[str]:
    """Return count queries, cycling through queries."""
    return list(itertools.islice(itertools.cycle(queries), count))


def run_and_check(web_load: ModuleType, url: str, queries: list[str], expected: dict):
    """Run the load; assert every call was sent and none failed other than queue-full."""
    report = web_load.run_load(
        url, queries, k=K, clients=CLIENTS, expected=expected, time_limit_s=TIME_LIMIT_S
    )
    print(*web_load.format_report(report), sep="\n")
    assert report.errors == ()
    assert report.not_sent == 0 and report.sent == len(queries)
    assert report.ok + report.queue_full == len(queries)
    return report


def test_20_clients_get_correct_results(
    web_load: ModuleType, web_app: LaunchedApp, load_queries: list[str], expected: dict
) -> None:
    report = run_and_check(web_load, web_app.url, searches(load_queries, QUICK_SEARCHES), expected)
    assert report.queue_full == 0  # 20 clients never fill the default queue of 64
    assert len(report.ok_ms) == QUICK_SEARCHES


@pytest.mark.slow
def test_1000_searches_from_20_clients_get_correct_results(
    web_load: ModuleType, web_app: LaunchedApp, load_queries: list[str], expected: dict
) -> None:
    report = run_and_check(web_load, web_app.url, searches(load_queries, FULL_SEARCHES), expected)
    assert report.ok + report.queue_full == FULL_SEARCHES and report.ok > 0


def test_a_full_queue_refuses_cleanly_and_the_rest_are_correct(
    web_load: ModuleType, tiny_queue_app: LaunchedApp, load_queries: list[str], expected: dict
) -> None:
    queries = searches(load_queries, QUICK_SEARCHES)
    report = run_and_check(web_load, tiny_queue_app.url, queries, expected)
    assert report.queue_full > 0 and report.ok > 0


@pytest.mark.parametrize(
    "url",
    ["http://example.com:7860", "http://0.0.0.0:7860", "http://192.168.1.20:7860"],
    ids=["remote", "any", "lan"],
)
def test_load_generator_only_targets_localhost(web_load: ModuleType, url: str) -> None:
    with pytest.raises(ValueError, match="only http://127.0.0.1"):
        web_load.run_load(url, ["a dog"])


def hit(gif_id: str, score: float) -> dict[str, object]:
    """Return a well-formed /search hit."""
    return {
        "gif_id": gif_id,
        "url": "u",
        "score": score,
        "description": "d",
        "other_descriptions": [],
    }


@pytest.mark.parametrize(
    ("hits", "problem"),
    [
        ([], "not a non-empty list"),
        ([{"gif_id": "a", "score": 0.5}], "bad hit"),
        ([hit("a", 0.2), hit("b", 0.9)], "not descending"),
        ([hit("a", 0.9), hit("a", 0.2)], "appears twice"),
        ([hit("b", 0.9), hit("a", 0.2)], "top GIF b"),
        ([hit("a", 0.9)], "1 hits"),
        ([{**hit("a", 0.9), "score": "0.9"}], "bad gif_id or score"),
    ],
    ids=[
        "empty",
        "missing-keys",
        "ascending",
        "duplicate-gif",
        "wrong-top",
        "too-few",
        "text-score",
    ],
)
def test_the_checker_catches_wrong_answers(web_load: ModuleType, hits: list, problem: str) -> None:
    assert problem in web_load.find_problem(hits, K, ["a", "b"])
    assert web_load.find_problem([hit("a", 0.9), hit("b", 0.2)], K, ["a", "b"]) is None
