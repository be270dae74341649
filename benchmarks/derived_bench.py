"""Categories and completion at scale: how long the build takes and what it holds, and how
fast a prefix is completed.

    python benchmarks/derived_bench.py [--sizes 20000,125000] [--work DIR]
                                       [--prefixes 2000] [--walk-sizes 1000000] [--out FILE]

For each size, a collection of that many rows:
- the scale benchmark's embedded store (~/.cache/gifsearch/scale/ROWS/embedded) when its
  build finished (built-embedded.json), only read: a real ingest of synthetic rows, with
  that ingest's seconds to compare the build with;
- else one built once in --work (default ~/.cache/gifsearch/derived-bench): the rows are
  benchmarks/bench.py's synthetic rows (the bundled sample, then copies with one word
  swapped or added and a new URL); each sample row's vector is its MiniLM vector (the
  sample is embedded once), a copy's is its original's plus noise (cosine ~0.97 to it, as
  near as a one-word change is), written with GifStore.add_records: a store of realistic
  rows and vectors without 125,000 encodes.

Each size is measured in a worker process of its own (its peak RSS its own):
1. build_derived as an ingest's end runs it (the bulk MiniLM, loaded first and timed
   apart, embeds the related-search candidates): seconds per stage, peak RSS over the
   worker's before the build;
2. the file: bytes, seconds to write and read back, and what the read-back Derived holds
   in memory (tracemalloc);
3. completion: --prefixes prefixes (real descriptions cut at a seeded random character),
   k = 10, with 100 past searches: p50 and p99; related searches (the ONNX query embedder,
   built once in --work): p50 and p99.
With --walk-sizes, the one part of the build that grows with the collection, the walk over
its ids that chooses the sample (and the content signature), is timed on a store of that
many rows with 2-d vectors and no documents, written once in --work.
Prints a table (stdout), JSON with --out; progress on stderr; others' CPU share (the
machine is shared). The first 125,000-row build takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from measure import RESULT_PREFIX, percentiles_ms  # noqa: E402

from search_app.settings import Settings  # noqa: E402

SCALE_CACHE = Path.home() / ".cache" / "gifsearch" / "scale"
DEFAULT_WORK = Path.home() / ".cache" / "gifsearch" / "derived-bench"
DEFAULT_SIZES = (20_000, 125_000)
COPY_NOISE = 0.013  # per dimension: |noise| ~ 0.25, cosine to the original ~0.97
WRITE_CHUNK_ROWS = 5_000
PAST_SEARCHES = 100
K = 10


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"derived-bench: {message}", file=sys.stderr, flush=True)


def scale_store(rows: int, work: Path) -> tuple[Settings, dict[str, float]] | None:
    """The scale benchmark's finished embedded store of this size (its query embedder
    built in work: nothing is written there), and its ingest's seconds and CPU seconds;
    None when there is none."""
    root = SCALE_CACHE / str(rows)
    record = root / "built-embedded.json"
    if not record.is_file():
        return None
    built = json.loads(record.read_text(encoding="utf-8"))
    figures = built.get("ingest", {})
    settings = Settings(store_dir=root / "embedded", cache_dir=work / "cache", model="minilm")
    kept = ("job_s", "cpu_s", "others_cpu_share")
    return settings, {key: float(figures[key]) for key in kept if figures.get(key)}


def own_store(work: Path, rows: int) -> Settings:
    """A store of this size built once in work (see the module)."""
    import bench  # a sibling script: benchmarks/ is on sys.path

    from search_app.embedders.sbert import load_embedder
    from search_app.records import GifRecord
    from search_app.store.binding import ModelBinding
    from search_app.store.client import GifStore

    root = work / str(rows)
    settings = Settings(store_dir=root / "store", cache_dir=work / "cache", model="minilm")
    done = root / "built.json"
    if done.is_file():
        return settings
    sample = bench.sample_rows()
    vectors_file = work / "sample-vectors.npy"
    embedder = load_embedder("minilm", "cpu", "auto")
    if not vectors_file.is_file():
        log(f"embedding the {len(sample):,} sample rows once")
        work.mkdir(parents=True, exist_ok=True)
        np.save(vectors_file, embedder.embed_texts([text for _, text in sample]))
    base = np.load(vectors_file)
    lines = bench.synthetic_lines(sample, rows)
    rng = np.random.default_rng(rows)
    store = GifStore(settings, create=True)
    store.ensure_collection(
        ModelBinding(embedder.name, embedder.spec.ref, embedder.dimension, images=False)
    )
    log(f"writing {rows:,} rows into {settings.store_dir} (once)")
    for start in range(0, rows, WRITE_CHUNK_ROWS):
        chunk = lines[start : start + WRITE_CHUNK_ROWS]
        records = [GifRecord(*line.rstrip("\n").split("\t"), "derived-bench") for line in chunk]
        source = np.arange(start, start + len(chunk)) % len(sample)
        vectors = base[source] + np.where(
            (np.arange(start, start + len(chunk)) < len(sample))[:, None],
            0.0,
            rng.normal(0.0, COPY_NOISE, (len(chunk), base.shape[1])),
        )
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.add_records(records, vectors.astype(np.float32))
        log(f"  {start + len(chunk):,} / {rows:,}")
    done.write_text(json.dumps({"rows": rows, "built_at": time.time()}), encoding="utf-8")
    return settings


def walk_store(work: Path, rows: int) -> Settings:
    """A store of this many rows with 2-d vectors and no documents, built once in work: the
    id walk reads ids only, so its cost is the row count's, not the vectors'."""
    from search_app.records import make_row_id
    from search_app.store.binding import ModelBinding
    from search_app.store.client import GifStore

    root = work / f"walk-{rows}"
    settings = Settings(store_dir=root / "store", cache_dir=work / "cache", model="minilm")
    done = root / "built.json"
    if done.is_file():
        return settings
    store = GifStore(settings, create=True)
    store.ensure_collection(ModelBinding("walk", "walk", 2, images=False))
    rng = np.random.default_rng(0)
    log(f"writing {rows:,} rows of 2-d vectors into {settings.store_dir} (once)")
    for start in range(store.count_kind("description"), rows, 50_000):
        stop = min(rows, start + 50_000)
        ids = [make_row_id(f"https://x.test/{n}.gif", "") for n in range(start, stop)]
        metas = [{"gif_id": row_id} for row_id in ids]
        store.write_rows(ids, rng.random((stop - start, 2)).astype(np.float32), None, metas)
        log(f"  {stop:,} / {rows:,}")
    done.write_text(json.dumps({"rows": rows}), encoding="utf-8")
    return settings


def task_settings(task: dict) -> Settings:
    """The settings a worker's task carries (as JSON: paths as text)."""
    fields = task["settings"]
    return Settings(**{k: Path(v) if k.endswith("_dir") else v for k, v in fields.items()})


def walk_worker(task: dict) -> dict:
    """Time the sample's id walk and the content signature on a walk_store."""
    from search_app.retrieval.sample import content_signature, read_sample
    from search_app.store.client import GifStore

    store = GifStore(task_settings(task))
    marks: dict[str, float] = {}

    def progress(total: int, label: str) -> Callable[[int], None]:
        marks[label] = time.perf_counter()
        return lambda n: None

    started = time.perf_counter()
    sample = read_sample(store, progress=progress)
    ended = time.perf_counter()
    signed = time.perf_counter()
    content_signature(store)
    return {
        "rows": store.count_kind("description"),
        "sample_rows": len(sample.rows),
        "id_walk_s": marks["sample rows"] - marks["sample ids"],
        "sample_s": ended - started,
        "signature_s": time.perf_counter() - signed,
    }


def prefixes_and_past(count: int) -> tuple[list[str], list[tuple[str, int, float]]]:
    """Prefixes of real descriptions cut at a seeded random character, and past searches
    (other descriptions, each searched 1 to 5 times)."""
    import bench

    texts = [text.rstrip(" .") for _, text in bench.sample_rows()]
    rng = random.Random(0)
    chosen = rng.sample(texts, count + PAST_SEARCHES)
    prefixes = [text[: rng.randint(1, len(text))] for text in chosen[:count]]
    past = [(text, rng.randint(1, 5), float(i)) for i, text in enumerate(chosen[count:])]
    return prefixes, past


def worker(task: dict) -> dict:
    """Measure one collection (see the module); run in a process of its own."""
    from measure import cpu_seconds, machine_busy_seconds, others_share, peak_rss_mb

    from search_app.embedders.query_embedder import (
        ensure_query_embedder,
        load_for_settings,
        load_query_embedder,
    )
    from search_app.retrieval.completion import Completer
    from search_app.retrieval.derived import build_derived, load_derived, save_derived
    from search_app.store.client import GifStore
    from search_app.store.usage import PastSearch

    settings = task_settings(task)
    store = GifStore(settings)
    model = store.require_binding().model
    started = time.perf_counter()
    embedder = load_for_settings(model, settings)
    load_s = time.perf_counter() - started
    embedder.embed_texts(["warm up"])
    rss_before = peak_rss_mb()
    marks: dict[str, float] = {}

    def progress(total: int, label: str) -> Callable[[int], None]:
        marks[label] = time.perf_counter()  # "sample rows" begins when the id walk ends
        return lambda n: None

    busy, cpu, started = machine_busy_seconds(), cpu_seconds(), time.perf_counter()
    derived = build_derived(store, embedder.embed_texts, progress=progress)
    build_s = time.perf_counter() - started
    own_cpu = cpu_seconds() - cpu
    id_walk_s = marks.get("sample rows", started) - marks.get("sample ids", started)
    others = others_share(busy, own_cpu, build_s)
    build_rss = peak_rss_mb()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gifs.json"
        started = time.perf_counter()
        save_derived(path, derived)
        write_s = time.perf_counter() - started
        file_bytes = path.stat().st_size
        tracemalloc.start()
        started = time.perf_counter()
        loaded, problem = load_derived(path)
        read_s = time.perf_counter() - started
        held_mb = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
    assert loaded is not None, problem
    log(ensure_query_embedder(embedder, settings) or "ONNX query embedder already built")
    query = load_query_embedder(model, settings)
    completer = Completer(loaded.phrases, loaded.related, query.embed_query)
    prefixes, past_rows = prefixes_and_past(task["prefixes"])
    past = [PastSearch(*row) for row in past_rows]
    complete_s, answered = [], 0
    for prefix in prefixes:
        started = time.perf_counter()
        found = completer.complete(prefix, K, past)
        complete_s.append(time.perf_counter() - started)
        answered += bool(found)
    related_s = []
    for prefix in prefixes[: min(300, len(prefixes))]:
        started = time.perf_counter()
        completer.suggestions(prefix, K)
        related_s.append(time.perf_counter() - started)
    return {
        "rows": store.count_kind("description"),
        "sample_rows": derived.sample_rows,
        "categories": [c.name for c in derived.categories],
        "phrases": len(derived.phrases),
        "related_phrases": len(derived.related.phrases),
        "model_load_s": load_s,
        "build_s": build_s,
        "build_cpu_s": own_cpu,
        "id_walk_s": id_walk_s,
        "stages_s": derived.stages,
        "categories_s": sum(derived.stages.get(s, 0.0) for s in ("sample", "words", "categories")),
        "others_cpu_share": others,
        "rss_before_build_mib": rss_before,
        "peak_rss_mib": build_rss,
        "file_bytes": file_bytes,
        "write_s": write_s,
        "read_s": read_s,
        "held_mib": held_mb,
        "complete": {**percentiles_ms(complete_s), "answered": answered / len(prefixes)},
        "related": percentiles_ms(related_s),
        "example": {p: completer.complete(p, 5) for p in ("a dog j", "danc", "two g")},
    }


def run_worker(settings: Settings, prefixes: int, walk: bool = False) -> dict:
    """Run worker() (walk_worker() with walk) in a new process; return what it measured."""
    task = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(settings).items()},
        "prefixes": prefixes,
        "walk": walk,
    }
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(task)],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    raise SystemExit(f"derived-bench: the worker failed (exit {done.returncode})")


def format_report(results: list[dict]) -> str:
    """The figures as a table."""
    lines = [f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"]
    for r in results:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages_s"].items())
        ingest = r.get("ingest") or {}
        versus = ""
        if "job_s" in ingest and "cpu_s" in ingest:
            versus = (
                f" = {100 * r['categories_s'] / ingest['job_s']:.1f}% of its ingest's "
                f"{ingest['job_s']:.0f} s (others' CPU share then "
                f"{ingest.get('others_cpu_share', 0):.2f}); the whole build's CPU "
                f"{100 * r['build_cpu_s'] / ingest['cpu_s']:.1f}% of the ingest's "
                f"{ingest['cpu_s']:.0f} CPU s"
            )
        lines += [
            f"\n{r['rows']:,} rows ({r['store']}), sample {r['sample_rows']:,} descriptions",
            f"  build            {r['build_s']:.1f} s, {r['build_cpu_s']:.1f} CPU s (stages: "
            f"{stages}; of the sample, the id walk {r['id_walk_s']:.1f}); model load "
            f"{r['model_load_s']:.1f} s apart; others' CPU share {r['others_cpu_share']:.2f}",
            f"  categories       {r['categories_s']:.1f} s{versus}: {len(r['categories'])}, "
            + ", ".join(r["categories"][:12])
            + (" ..." if len(r["categories"]) > 12 else ""),
            f"  memory           peak RSS {r['peak_rss_mib']:.0f} MiB "
            f"({r['peak_rss_mib'] - r['rss_before_build_mib']:.0f} over the worker's "
            f"{r['rss_before_build_mib']:.0f} with the model loaded); held after reading "
            f"the file {r['held_mib']:.1f} MiB",
            f"  file             {r['file_bytes'] / 2**20:.1f} MiB, written in "
            f"{r['write_s']:.2f} s, "
            f"read in {r['read_s']:.2f} s; {r['phrases']:,} phrases, "
            f"{r['related_phrases']:,} related-search candidates",
            f"  completion       p50 {r['complete']['p50_ms']:.2f} ms, p99 "
            f"{r['complete']['p99_ms']:.2f} ms ({100 * r['complete']['answered']:.0f}% of "
            f"prefixes answered); related searches p50 {r['related']['p50_ms']:.1f} ms, "
            f"p99 {r['related']['p99_ms']:.1f} ms",
            f"  e.g.             {json.dumps(r['example'])}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, measure each size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--prefixes", type=int, default=2_000)
    parser.add_argument(
        "--walk-sizes",
        default="",
        help="also time the sample's id walk at these sizes, e.g. 1000000 (a store of 2-d "
        "vectors, written once: the id walk is the only part that grows with the rows)",
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        task = json.loads(args.worker)
        measure = walk_worker if task["walk"] else worker
        print(RESULT_PREFIX + json.dumps(measure(task)), flush=True)
        return 0
    results = []
    for rows in (int(size) for size in args.sizes.split(",") if size):
        found = scale_store(rows, args.work)
        if found is not None:
            settings, ingest = found
            kind = f"the scale benchmark's store, {settings.store_dir}"
        else:
            settings, ingest = own_store(args.work, rows), {}
            kind = f"synthetic vectors, {settings.store_dir}"
        log(f"measuring {rows:,} rows ({kind})")
        result = run_worker(settings, args.prefixes)
        results.append({**result, "store": kind, "ingest": ingest})
    walks = []
    for rows in (int(size) for size in args.walk_sizes.split(",") if size):
        log(f"the id walk at {rows:,} rows")
        walks.append(run_worker(walk_store(args.work, rows), 0, walk=True))
    print(format_report(results))
    for walk in walks:
        print(
            f"\nid walk at {walk['rows']:,} rows (2-d vectors, no documents): "
            f"{walk['id_walk_s']:.1f} s; the sample of {walk['sample_rows']:,} rows with it "
            f"{walk['sample_s']:.1f} s; the content signature {walk['signature_s']:.2f} s"
        )
    if args.out:
        data = {"sizes": results, "walks": walks}
        args.out.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
