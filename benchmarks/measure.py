"""Benchmark worker: runs measurement tasks given as JSON and prints one result line each.

bench.py starts one worker process per task so each task's peak RSS (ru_maxrss) is its
own. Usage: python benchmarks/measure.py '[{"kind": "encode", ...}, ...]'
Each result is printed to stdout as `RESULT <json>`; progress goes to stderr.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from search_app.embedders.sbert import IMAGE_BATCH_SIZE
from search_app.settings import DEFAULT_BATCH_SIZE

RESULT_PREFIX = "RESULT "
WARMUP_QUERIES = 5
CLIP_VOCAB = 49_408
CLIP_BOS, CLIP_EOS = 49_406, 49_407
CLIP_CONTEXT = 77


def cpu_seconds() -> float:
    """Return the CPU seconds (user + system) this process's threads have used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_serve(flags: list[str], port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """Start `gifsearch serve --port PORT FLAGS` in a new process, its output discarded."""
    command = [sys.executable, "-m", "gifsearch", "serve", "--port", str(port), *flags]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd
    )


def wait_for_page(
    server: subprocess.Popen, port: int, started: float, timeout_s: float,
    error: Callable[[str], Exception], request_timeout_s: float = 2.0,
) -> float:  # fmt: skip
    """Poll a started serve's page until it answers 200; return the seconds since started
    (a perf_counter reading). error makes what is raised should serve exit or time run out."""
    import httpx

    url = f"http://127.0.0.1:{port}/"
    while True:
        if server.poll() is not None:
            raise error(f"gifsearch serve exited with {server.returncode}")
        if time.perf_counter() - started > timeout_s:
            raise error(f"gifsearch serve did not answer in {timeout_s:.0f} s")
        try:
            if httpx.get(url, timeout=request_timeout_s).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            time.sleep(0.05)


def machine_busy_seconds() -> float:
    """Return the CPU seconds every process on the machine has used since boot (Linux's
    /proc/stat; 0.0 elsewhere): what other processes used is this less cpu_seconds()."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def others_share(busy_before: float, own_cpu_s: float, wall_s: float) -> float:
    """The share of the machine's cores that other processes kept busy over wall_s, from
    machine_busy_seconds() read before and the CPU seconds the measured work used."""
    others = machine_busy_seconds() - busy_before - own_cpu_s
    return max(0.0, others) / (wall_s * (os.cpu_count() or 1))


def thread_cpu_seconds() -> Counter[str]:
    """Return this process's CPU seconds by thread name (Linux's /proc/self/task; empty
    elsewhere). Chroma's SQLite work runs on threads named sqlx-sqlite-worker."""
    seconds: Counter[str] = Counter()
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return seconds
    for task in tasks.iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds[name] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def peak_rss_mb() -> float:
    """Return this process's peak resident set size so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


@cache
def load(model: str, precision: str) -> object:
    """Load the embedder once per worker (several tasks share it in --quick runs)."""
    from search_app.embedders.sbert import load_embedder

    return load_embedder(model, device="cpu", precision=precision)


def settings_for(store: str, collection: str, model: str, precision: str) -> object:
    """Return Settings for a bench store on the CPU."""
    from search_app.settings import Settings

    return Settings(
        store_dir=Path(store),
        collection=collection,
        model=model,
        device="cpu",
        precision=precision,
        cache_dir=Path(store) / "cache",
    )


def read_texts(source: str, limit: int | None) -> list[str]:
    """Return the descriptions the ingest of source with limit would embed."""
    from ingest.reader import read_rows

    rows, _ = read_rows(Path(source), source, limit)
    return [r.description for r in rows]


def run_ingest_task(task: dict, progress: bool) -> dict:
    """Run the whole ingest job (ingest.job.run_ingest) into task['store']."""
    from gifsearch.console import tqdm_progress
    from ingest.job import IngestOptions, run_ingest

    settings = settings_for(task["store"], "bench", task["model"], task["precision"])
    report = run_ingest(
        IngestOptions(source=task["source"], limit=task["limit"]),
        settings,
        loader=lambda model, s: load(model, s.precision),
        progress=tqdm_progress(progress),
    )
    return {
        "rows": report.kept - report.sampled_out,
        "embedded": report.embedded,
        "seconds": report.seconds,
        "load_seconds": report.load_seconds,
        "rows_per_s": report.rows_per_s,
        "device": report.device,
        "stages": report.stages,
    }


WRITE_PARTS = (  # replayed in turn, each into a fresh store: what each one adds is its cost
    ("vectors", False, False),  # ids and vectors: Chroma's SQLite log, id rows, HNSW insert
    ("metadata", True, False),  # + url, gif_id, source: metadata rows and their indexes
    ("documents", True, True),  # + descriptions: document rows and the full-text index
)


def run_profile_task(task: dict, progress: bool) -> dict:
    """Time the steps around an ingest's write, then split the write into its parts.

    Reads the rows as the job does and times hashing their ids apart, embeds them, then
    replays the job's write (same rows, vectors, chunks and collection configuration)
    into fresh stores: ids and vectors only, then with metadata, then with documents too,
    which is the job's whole write. Each replay's CPU seconds are split by thread: Chroma
    runs its SQLite statements (log, id, metadata and document rows, full-text index) on
    sqlx-sqlite-worker threads and the HNSW insert on its other threads.
    """
    from gifsearch.console import tqdm_progress
    from ingest.job import EMBED_CHUNK_ROWS
    from ingest.reader import read_rows
    from search_app.records import make_gif_id, make_row_id
    from search_app.store.binding import ModelBinding
    from search_app.store.client import GifStore

    started = time.perf_counter()
    rows, _ = read_rows(Path(task["source"]), task["source"], task["limit"])
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for row in rows:  # the two hashes the reader computes for every row it keeps
        make_gif_id(row.url)
        make_row_id(row.url, row.description)
    hash_seconds = time.perf_counter() - started
    rows.sort(key=lambda r: len(r.description))  # the job's order, so its chunks
    embedder = load(task["model"], task["precision"])
    tick = tqdm_progress(progress)(len(rows), "profile: embed")
    vectors = embedder.embed_texts([r.description for r in rows], DEFAULT_BATCH_SIZE, tick)
    binding = ModelBinding(embedder.name, embedder.spec.ref, embedder.dimension)
    parts = {}
    for name, with_metadata, with_documents in WRITE_PARTS:
        with tempfile.TemporaryDirectory(prefix="gifsearch-bench-profile-") as scratch:
            store = GifStore(
                settings_for(scratch, "bench-profile", task["model"], "fp32"), create=True
            )
            store.ensure_collection(binding)
            log(f"profile: write {len(rows)} rows, up to {name}")
            threads_before, started = thread_cpu_seconds(), time.perf_counter()
            for start in range(0, len(rows), EMBED_CHUNK_ROWS):
                chunk = rows[start : start + EMBED_CHUNK_ROWS]
                store.write_rows(
                    [r.row_id for r in chunk],
                    vectors[start : start + EMBED_CHUNK_ROWS],
                    [r.description for r in chunk] if with_documents else None,
                    [r.metadata() for r in chunk] if with_metadata else None,
                )
            seconds = time.perf_counter() - started
            used = thread_cpu_seconds()
            used.subtract(threads_before)
            sqlite = sum(v for k, v in used.items() if k.startswith("sqlx"))
            parts[name] = {
                "seconds": seconds,
                "sqlite_cpu_seconds": sqlite,
                "other_cpu_seconds": sum(v for k, v in used.items() if not k.startswith("sqlx")),
                "threads_seen": sorted(k for k, v in used.items() if v > 0),
            }
    return {
        "rows": len(rows),
        "read_seconds": read_seconds,
        "hash_seconds": hash_seconds,
        "chunk_rows": EMBED_CHUNK_ROWS,
        "write_parts": parts,
    }


def run_encode_task(task: dict, progress: bool) -> dict:
    """Time bare model.encode of the texts an ingest of the same source would embed."""
    texts = read_texts(task["source"], task["limit"])
    embedder = load(task["model"], task["precision"])
    started = time.perf_counter()
    embedder.model.encode(  # type: ignore[attr-defined]  # load() returns object (an Embedder)
        texts, batch_size=task["batch_size"], show_progress_bar=progress, convert_to_numpy=True
    )
    seconds = time.perf_counter() - started
    return {"rows": len(texts), "seconds": seconds, "rows_per_s": len(texts) / seconds}


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    """Return p50 and p99 of samples (seconds) in milliseconds."""
    values = np.array(samples) * 1000.0
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99))}


def run_query_task(task: dict, progress: bool) -> dict:
    """Index texts through GifStore, then time search() vs bare encode + Chroma query.

    Also HNSW recall@k: Chroma's top k rows against exact brute force over the same
    vectors (numpy dot products of unit vectors).
    """
    from gifsearch.console import tqdm_progress
    from ingest.reader import read_rows
    from search_app.retrieval.engine import CANDIDATE_FACTOR, ROWS_PER_CANDIDATE, SearchEngine
    from search_app.retrieval.ranking import best_row_per_gif
    from search_app.retrieval.request import SearchRequest
    from search_app.store.binding import ModelBinding
    from search_app.store.client import GifStore

    rows, _ = read_rows(Path(task["source"]), "bench", task["limit"])
    queries = [line.strip() for line in Path(task["queries"]).read_text().splitlines()]
    embedder = load(task["model"], task["precision"])
    k = task["k"]
    with tempfile.TemporaryDirectory(prefix="gifsearch-bench-query-") as scratch:
        store = GifStore(settings_for(scratch, "bench-query", task["model"], "fp32"), create=True)
        binding = ModelBinding(embedder.name, embedder.spec.ref, embedder.dimension)
        store.ensure_collection(binding)
        tick = tqdm_progress(progress)(len(rows), "index")
        vectors = embedder.embed_texts([r.description for r in rows], DEFAULT_BATCH_SIZE, tick)
        store.upsert_records(rows, vectors)
        engine = SearchEngine(store, embedder, binding)
        for text in queries[:WARMUP_QUERIES]:
            engine.search(SearchRequest(text, k))
        wide, candidates = k * CANDIDATE_FACTOR * ROWS_PER_CANDIDATE, k * CANDIDATE_FACTOR
        names = ("search", "bare", "encode", "query", "query_overfetch", "descriptions")
        timings: dict[str, list[float]] = {name: [] for name in names}
        for text in queries:
            started = time.perf_counter()
            engine.search(SearchRequest(text, k))
            timings["search"].append(time.perf_counter() - started)
            started = time.perf_counter()
            vector = embedder.model.encode([text], batch_size=1, show_progress_bar=False)[0]  # type: ignore[attr-defined]  # load() returns object (an Embedder)
            encoded = time.perf_counter()
            store.query(vector, k)
            done = time.perf_counter()
            timings["encode"].append(encoded - started)
            timings["query"].append(done - encoded)
            timings["bare"].append(done - started)
            # The steps search adds to the bare path, timed one by one.
            timings["query_overfetch"].append(timed(lambda v=vector: store.query(v, wide)))
            gif_ids = list(best_row_per_gif(store.query(vector, wide)))[:k]
            timings["descriptions"].append(timed(lambda g=gif_ids: store.rows_for_gifs(g)))
        position = {r.row_id: i for i, r in enumerate(rows)}
        query_vectors = embedder.embed_texts(queries, DEFAULT_BATCH_SIZE)
        overlaps = []
        for vector in query_vectors:
            exact = set(np.argsort(-(vectors @ vector), kind="stable")[:k].tolist())
            found = {position[r.row_id] for r in store.query(vector, k)}
            overlaps.append(len(exact & found) / k)
    return {
        "index_rows": len(rows),
        "queries": len(queries),
        "k": k,
        "candidate_rows": wide,
        "candidate_gifs": candidates,
        "latency": {name: percentiles_ms(values) for name, values in timings.items()},
        "hnsw_recall_at_k": float(np.mean(overlaps)),
        "precision": embedder.precision,
    }


def clip_token_batches(lengths: list[int], batch: int, seed: int = 0) -> list[tuple]:
    """Return (input_ids, attention_mask) batches of random CLIP token ids of given lengths.

    Each sequence is BOS, random ids, EOS; batches are sorted by length and padded, as
    sentence-transformers does.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    ordered = sorted(min(n, CLIP_CONTEXT) for n in lengths)
    batches = []
    for start in range(0, len(ordered), batch):
        part = ordered[start : start + batch]
        width = max(part)
        ids = torch.full((len(part), width), CLIP_EOS, dtype=torch.long)
        mask = torch.zeros((len(part), width), dtype=torch.long)
        for row, n in enumerate(part):
            ids[row, 0] = CLIP_BOS
            ids[row, 1 : n - 1] = torch.randint(0, CLIP_BOS, (n - 2,), generator=generator)
            mask[row, :n] = 1
        batches.append((ids, mask))
    return batches


def timed(run: Callable[[], None]) -> float:
    """Return the seconds run() takes."""
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def run_clip_task(task: dict, progress: bool) -> dict:
    """Time CLIP ViT-B/32's text and vision towers (random weights) on this CPU."""
    import torch
    from transformers import (
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    torch.manual_seed(0)
    text_config = CLIPTextConfig(
        vocab_size=CLIP_VOCAB,
        hidden_size=512,
        intermediate_size=2048,
        num_hidden_layers=12,
        num_attention_heads=8,
        max_position_embeddings=CLIP_CONTEXT,
        projection_dim=512,
        hidden_act="quick_gelu",
        bos_token_id=CLIP_BOS,
        eos_token_id=CLIP_EOS,
        pad_token_id=1,
    )
    vision_config = CLIPVisionConfig(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        image_size=224,
        patch_size=32,
        projection_dim=512,
        hidden_act="quick_gelu",
    )
    lengths = [len(text.split()) + 2 for text in read_texts(task["source"], task["texts"])]
    batches = clip_token_batches(lengths, DEFAULT_BATCH_SIZE)  # the ingest batch size
    images = torch.randn(task["images"], 3, 224, 224)
    result: dict[str, object] = {
        "texts": len(lengths),
        "mean_tokens": float(np.mean(lengths)),
        "images": task["images"],
        "text": {},
        "vision": {},
    }
    for precision in task["precisions"]:
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        text_model = CLIPTextModelWithProjection(text_config).eval().to(dtype)
        vision_model = CLIPVisionModelWithProjection(vision_config).eval().to(dtype)
        result["text_parameters"] = sum(p.numel() for p in text_model.parameters())
        result["vision_parameters"] = sum(p.numel() for p in vision_model.parameters())
        with torch.inference_mode():
            text_model(input_ids=batches[0][0][:8], attention_mask=batches[0][1][:8])
            log(f"clip text tower {precision}: {len(lengths)} texts")
            seconds = timed(
                lambda tm=text_model: [tm(input_ids=i, attention_mask=m) for i, m in batches]
            )
            result["text"][precision] = {"seconds": seconds, "rows_per_s": len(lengths) / seconds}
            vision_model(pixel_values=images[:1].to(dtype))
            log(f"clip vision tower {precision}: {task['images']} images of 224x224")
            pixels = [
                images[s : s + IMAGE_BATCH_SIZE].to(dtype)
                for s in range(0, len(images), IMAGE_BATCH_SIZE)
            ]
            seconds = timed(lambda vm=vision_model, px=pixels: [vm(pixel_values=p) for p in px])
            per_s = task["images"] / seconds
            result["vision"][precision] = {"seconds": seconds, "images_per_s": per_s}
        del text_model, vision_model
    return result


TASKS = {
    "ingest": run_ingest_task,
    "profile": run_profile_task,
    "reingest": run_ingest_task,
    "encode": run_encode_task,
    "query": run_query_task,
    "clip": run_clip_task,
}


def main(argv: list[str]) -> int:
    """Run each task in argv[0] (a JSON list) and print its result line."""
    tasks = json.loads(argv[0])
    progress = "--no-progress" not in argv[1:]
    for task in tasks:
        busy_before, cpu_before = machine_busy_seconds(), cpu_seconds()
        started = time.perf_counter()
        result = TASKS[task["kind"]](task, progress)
        wall = time.perf_counter() - started
        result.update(
            task=task,
            wall_seconds=wall,
            peak_rss_mb=peak_rss_mb(),
            others_cpu_share=others_share(busy_before, cpu_seconds() - cpu_before, wall),
        )
        print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
