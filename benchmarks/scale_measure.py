"""Scale benchmark worker: one task given as JSON, its result printed as `RESULT <json>`.

Tasks: export (the stored vectors of an embedded store, in the source's row order),
replay_ingest (the ingest job into a `chroma run` server, the encoding replayed from those
vectors), engine (SearchEngine latency, lookups and HNSW recall@10 against brute force).
Each runs in its own process so that its peak RSS is its own.
Usage: python benchmarks/scale_measure.py '{"kind": "engine", ...}'
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from measure import cpu_seconds, machine_busy_seconds, others_share, peak_rss_mb, percentiles_ms

DIMENSION_BYTES = 4  # float32
EXPORT_PAGE_ROWS = 5_000
WARMUP_QUERIES = 5
FILTER_QUERIES = 20  # hits whose rows are also read by a filter on their GIF ids
RECALL_K = 10
# A returned row counts as one of the true top k when its exact score is within this of
# the k-th best (ann-benchmarks' recall): rows with the same vector tie exactly, and any k
# of them are a right answer.
TIE_TOLERANCE = 1e-6
BRUTE_FORCE_ROWS = 100_000  # rows of the vectors file multiplied at a time


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"scale: {message}", file=sys.stderr, flush=True)


def settings_of(task: dict) -> object:
    """The Settings a task's store is opened with: the embedded store or the server."""
    from search_app.settings import Settings

    common = {"cache_dir": Path(task["cache"]), "model": "auto", "collection": "gifs"}
    if task.get("port"):
        return Settings(chroma_host="127.0.0.1", chroma_port=task["port"], **common)
    return Settings(store_dir=Path(task["store"]), **common)


def source_row_ids(source: str) -> list[str]:
    """The row ids of an ingest of the whole source, in the order the job reads them."""
    from ingest.reader import read_rows

    rows, _ = read_rows(Path(source), source, None)
    return [row.row_id for row in rows]


def run_export(task: dict) -> dict:
    """Write the embedded store's vectors in the source's row order (float32 rows) and
    the row ids beside them, read by id in pages."""
    from search_app.settings import Settings
    from search_app.store.client import GifStore

    started = time.perf_counter()
    ids = source_row_ids(task["source"])
    store = GifStore(Settings(store_dir=Path(task["store"]), collection="gifs"))
    collection = store._get_collection()  # the benchmark reads raw pages of vectors
    with open(task["vectors"], "wb") as out:
        for start in range(0, len(ids), EXPORT_PAGE_ROWS):
            wanted = ids[start : start + EXPORT_PAGE_ROWS]
            page = collection.get(ids=wanted, include=["embeddings"])
            position = {row_id: i for i, row_id in enumerate(page["ids"])}
            if len(position) != len(wanted):
                raise SystemExit(f"scale: the store lacks {len(wanted) - len(position)} rows")
            vectors = np.asarray(page["embeddings"], dtype=np.float32)
            out.write(vectors[[position[row_id] for row_id in wanted]].tobytes())
    Path(task["ids"]).write_text("\n".join(ids) + "\n", encoding="utf-8")
    return {"rows": len(ids), "seconds": time.perf_counter() - started}


class ReplayEmbedder:
    """Stands in for the bulk embedder in the server's ingest: each text's vector is read
    from the vectors file the embedded store's ingest produced (by the text's position
    in the source), so the job's other stages and its write are measured, not an encode."""

    def __init__(self, vectors: Path, source: str) -> None:
        from ingest.reader import read_rows
        from search_app.embedders.sbert import resolve_model_spec

        self.spec = resolve_model_spec("minilm")
        self.name = self.spec.name
        self.device = "cpu"
        self.precision = "replayed"
        self.notice: str | None = None
        self.supports_images = False
        rows, _ = read_rows(Path(source), source, None)
        # Hashes of the texts, sorted, with each one's row: 16 bytes a row (a dict of the
        # texts would add ~200 MB at a million rows to the job's memory).
        keys = np.array([hash(row.description) for row in rows], dtype=np.int64)
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]
        self._file = os.open(vectors, os.O_RDONLY)
        self.dimension = os.path.getsize(vectors) // len(rows) // DIMENSION_BYTES

    def embed_texts(self, texts, batch_size=256, on_progress=None) -> np.ndarray:
        """The stored vectors of these texts (read from the file, not mapped into memory)."""
        width = self.dimension * DIMENSION_BYTES
        keys = np.array([hash(text) for text in texts], dtype=np.int64)
        rows = self._order[np.searchsorted(self._keys, keys)]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, row in enumerate(rows):
            out[i] = np.frombuffer(os.pread(self._file, width, int(row) * width), np.float32)
        if on_progress:
            on_progress(len(texts))
        return out


def run_replay_ingest(task: dict) -> dict:
    """Run the ingest job into the server, the encoding replayed (ReplayEmbedder)."""
    from gifsearch.console import tqdm_progress
    from ingest.job import IngestOptions, run_ingest

    replay = ReplayEmbedder(Path(task["vectors"]), task["source"])
    started = time.perf_counter()
    report = run_ingest(
        IngestOptions(source=task["source"], limit=None),
        settings_of(task),
        loader=lambda model, settings: replay,
        progress=tqdm_progress(True),
    )
    return {
        "rows": report.kept,
        "wall_s": time.perf_counter() - started,
        "job_s": report.seconds,
        "rows_per_s": report.rows_per_s,
        "stages": report.stages,
        "encode": "replayed",  # the stages' encode is reading the vectors file
        "peak_rss_mib": peak_rss_mb(),
        "cpu_s": cpu_seconds(),
    }


def exact_top(vectors: np.memmap, queries: np.ndarray, k: int) -> tuple[list[set[int]], np.ndarray]:
    """The k rows of highest dot product with each query (unit vectors: cosine), exactly,
    and each query's k-th best score."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(vectors), BRUTE_FORCE_ROWS):
        block = np.asarray(vectors[start : start + BRUTE_FORCE_ROWS])
        scores = queries @ block.T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], 1)
        merged_rows = np.concatenate([best_rows, top + start], 1)
        keep = np.argsort(-merged_scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(merged_scores, keep, 1)
        best_rows = np.take_along_axis(merged_rows, keep, 1)
    return [set(row.tolist()) for row in best_rows], best_scores[:, -1]


def tie_aware_recall(vectors: np.ndarray, query: np.ndarray, found: list[int], kth: float) -> float:
    """The share of the k rows found that score at least the k-th best exact score (less
    TIE_TOLERANCE): a row tied with the true top k counts, whatever its id."""
    scores = np.asarray(vectors[sorted(found)]) @ query
    return float(np.sum(scores >= kth - TIE_TOLERANCE)) / RECALL_K


def tied_at_kth(vectors: np.memmap, queries: np.ndarray, kth: np.ndarray) -> np.ndarray:
    """How many rows score within TIE_TOLERANCE of each query's k-th best (k when no tie)."""
    counts = np.zeros(len(queries), dtype=np.int64)
    for start in range(0, len(vectors), BRUTE_FORCE_ROWS):
        scores = queries @ np.asarray(vectors[start : start + BRUTE_FORCE_ROWS]).T
        counts += (scores >= kth[:, None] - TIE_TOLERANCE).sum(axis=1)
    return counts


def timed_searches(engine: object, queries: list[str], k: int) -> list[float]:
    """Seconds of engine.search for each query."""
    from search_app.retrieval.request import SearchRequest

    seconds = []
    for text in queries:
        at = time.perf_counter()
        engine.search(SearchRequest(text, k))  # type: ignore[attr-defined]
        seconds.append(time.perf_counter() - at)
    return seconds


def rss_mib() -> float:
    """This process's resident set size now, in MiB (Linux's /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_engine(task: dict) -> dict:
    """SearchEngine on the store: the first search, the hits' rows read by a filter on
    their GIF ids (what a search without the catalog does), the catalog's build, then
    search p50/p99
    over the queries, bare encode + one Chroma query, stats(wait=False) as the page asks,
    lookups by id, the featured selection, and HNSW recall@10 against brute force."""
    from search_app.records import RowKind
    from search_app.retrieval.engine import SearchEngine
    from search_app.retrieval.request import SearchRequest

    queries = [line for line in Path(task["queries"]).read_text().splitlines() if line]
    started = time.perf_counter()
    engine = SearchEngine.open(settings_of(task))
    opened = time.perf_counter() - started
    store, embedder, k = engine.store, engine.embedder, task["k"]
    first = timed_searches(engine, queries[:1], k)[0]  # the first query builds nothing
    rss_before = rss_mib()
    at = time.perf_counter()
    engine.stats()  # builds the catalog (an embedded store's lookups; GIFs counted) and waits
    catalog_s = time.perf_counter() - at
    rss_after = rss_mib()
    filtered = []  # what a search without the catalog spends reading its hits' rows
    for text in queries[1 : 1 + FILTER_QUERIES]:
        gif_ids = [hit.gif_id for hit in engine.search(SearchRequest(text, k))]
        at = time.perf_counter()
        store.rows_for_gifs(gif_ids)
        filtered.append(time.perf_counter() - at)
    timed_searches(engine, queries[:WARMUP_QUERIES], k)
    timings: dict[str, list[float]] = {"search": [], "bare": [], "stats": [], "gifs": []}
    hit_ids: list[str] = []
    for text in queries:
        at = time.perf_counter()
        hits = engine.search(SearchRequest(text, k))
        timings["search"].append(time.perf_counter() - at)
        at = time.perf_counter()
        store.query_distances(embedder.embed_query(text), k)
        timings["bare"].append(time.perf_counter() - at)
        at = time.perf_counter()
        engine.stats(wait=False)
        timings["stats"].append(time.perf_counter() - at)
        hit_ids = [hit.gif_id for hit in hits] or hit_ids
        at = time.perf_counter()
        engine.gifs(hit_ids)
        timings["gifs"].append(time.perf_counter() - at)
    at = time.perf_counter()
    engine.featured(12)
    featured_s = time.perf_counter() - at
    at = time.perf_counter()
    store.read_all(documents=False)  # what check-links and --prune read
    read_all_s = time.perf_counter() - at
    timings["filter"] = filtered
    result = {
        "open_s": opened,
        "first_search_s": first,
        "catalog_s": catalog_s,
        "catalog_rss_mib": rss_after - rss_before,
        "rss_mib": rss_after,
        "queries": len(queries),
        "latency": {name: percentiles_ms(values) for name, values in timings.items()},
        "featured_first_s": featured_s,
        "read_all_s": read_all_s,
        "rows": store.count_kind(RowKind.DESCRIPTION),
        "gifs": engine.stats().gifs,
    }
    recall_queries = queries[: task["recall_queries"]]
    ids = Path(task["ids"]).read_text(encoding="utf-8").split()
    vectors = np.memmap(task["vectors"], dtype=np.float32, mode="r").reshape(len(ids), -1)
    query_vectors = np.stack([embedder.embed_query(text) for text in recall_queries])
    query_vectors = query_vectors.astype(np.float32)
    exact, kth = exact_top(vectors, query_vectors, RECALL_K)
    position = {row_id: i for i, row_id in enumerate(ids)}
    by_id, by_score = [], []
    for vector, truth, least in zip(query_vectors, exact, kth, strict=True):
        found = [position[row_id] for row_id, _ in store.query_distances(vector, RECALL_K)]
        by_id.append(len(set(found) & truth) / RECALL_K)
        by_score.append(tie_aware_recall(vectors, vector, found, least))
    tied = tied_at_kth(vectors, query_vectors, kth)
    result["recall_at_10"] = float(np.mean(by_score))  # ties counted (ann-benchmarks)
    result["recall_at_10_ids"] = float(np.mean(by_id))  # the true top 10 by id, ties cut
    result["tied_queries"] = int(np.sum(tied > RECALL_K))
    result["tied_rows_max"] = int(tied.max())
    result["recall_queries"] = len(recall_queries)
    return result


TASKS = {"export": run_export, "replay_ingest": run_replay_ingest, "engine": run_engine}


def main(argv: list[str]) -> int:
    """Run the task in argv[0] and print its result line with the machine's load."""
    task = json.loads(argv[0])
    busy, own = machine_busy_seconds(), cpu_seconds()
    started = time.perf_counter()
    result = TASKS[task["kind"]](task)
    wall = time.perf_counter() - started
    result.setdefault("peak_rss_mib", peak_rss_mb())
    result["task_wall_s"] = wall
    result.setdefault("others_cpu_share", others_share(busy, cpu_seconds() - own, wall))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
