"""The ONNX query embedder against sentence-transformers, on the bundled MiniLM.

    python benchmarks/fast_embedder_bench.py
    python benchmarks/fast_embedder_bench.py --queries 300 --rows 4096 --processes 5

Prints, from fresh processes so nothing is warm that a search start would not have:
the import time of search_app.embedders.onnx_embedder and the load time of the built MiniLM
(median over --processes runs); embed_query p50/p99 over --queries TGIF sample sentences
(column 2) for ONNX fp32 at 1 and 2 intra-op threads and for sentence-transformers
(Embedder.embed_query) at bf16 (2 and 1 torch threads) and fp32; the minimum cosine
between the ONNX vectors and sentence-transformers' over --rows sentences; bulk
embed_texts rows/s for each. --rounds N runs every path N times, in turn, so that a
change of load on a shared machine hits them all alike. The ONNX
build is made (or reused) under --cache-dir, named by onnx_dir_for.
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from search_app.settings import DEFAULT_BATCH_SIZE, default_cache_dir  # noqa: E402  (light)

SAMPLE = REPO / "ingest" / "data" / "tgif-sample.tsv"
WARMUP_QUERIES = 5
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers", "sklearn", "huggingface_hub")
STARTUP_CODE = """
import json, sys, time
from pathlib import Path
began = time.perf_counter()
import search_app
package = time.perf_counter()
from search_app.embedders.sbert import resolve_model_spec
from search_app.embedders.onnx_embedder import load_onnx_embedder, model_files_dir, onnx_dir_for
imported = time.perf_counter()
spec = resolve_model_spec("minilm")
directory = onnx_dir_for(Path(sys.argv[1]).parent, spec, model_files_dir(spec))
named = time.perf_counter()
assert directory == Path(sys.argv[1]), directory
embedder = load_onnx_embedder(directory)
loaded = time.perf_counter()
embedder.embed_query("a dog is running on the beach")
queried = time.perf_counter()
print(json.dumps({"package_s": package - began, "import_s": imported - began,
                  "name_s": named - imported, "load_s": loaded - named,
                  "first_query_s": queried - loaded,
                  "heavy": [name for name in sys.argv[2:] if name in sys.modules]}))
"""
QUERY_OFFSET = 5_000  # latency queries come from here on, apart from the bulk rows


def sample_sentences(start: int, count: int) -> list[str]:
    """Return count descriptions (column 2) of the TGIF sample from line start."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[start : start + count]
    return [line.split("\t")[1] for line in lines]


def ensure_build(cache_dir: Path) -> Path:
    """Return the MiniLM ONNX build under cache_dir, building it when none loads."""
    from search_app.embedders.onnx_embedder import load_onnx_embedder, model_files_dir, onnx_dir_for
    from search_app.embedders.sbert import resolve_model_spec
    from search_app.errors import OnnxModelError

    spec = resolve_model_spec("minilm")
    directory = onnx_dir_for(cache_dir, spec, model_files_dir(spec))  # type: ignore[arg-type]  # MiniLM is bundled: never None
    try:
        load_onnx_embedder(directory)
        print(f"bench: reusing {directory}", file=sys.stderr)
        return directory
    except OnnxModelError:
        pass
    from search_app.embedders.onnx_export import build_onnx_embedder
    from search_app.embedders.sbert import load_embedder

    started = time.perf_counter()
    build_onnx_embedder(load_embedder("minilm", device="cpu", precision="fp32"), directory)
    print(f"bench: built {directory} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return directory


def worker(args: argparse.Namespace) -> None:
    """Measure one path in this (fresh) process and print its figures as JSON."""
    started = time.perf_counter()
    if args.worker == "onnx":
        from search_app.embedders.onnx_embedder import load_onnx_embedder

        imported = time.perf_counter()
        embedder = load_onnx_embedder(Path(args.build), threads=args.threads)
    else:
        import torch

        from search_app.embedders.sbert import load_embedder

        torch.set_num_threads(args.threads)
        imported = time.perf_counter()
        embedder = load_embedder("minilm", device="cpu", precision=args.precision)
    loaded = time.perf_counter()
    result = {"import_s": imported - started, "load_s": loaded - imported}
    if args.queries:
        queries = sample_sentences(QUERY_OFFSET, args.queries)
        for text in queries[:WARMUP_QUERIES]:
            embedder.embed_query(text)
        times = []
        for text in queries:
            began = time.perf_counter()
            embedder.embed_query(text)
            times.append(time.perf_counter() - began)
        result["query_s"] = times
    if args.rows:
        rows = sample_sentences(0, args.rows)
        embedder.embed_texts(rows[:DEFAULT_BATCH_SIZE], DEFAULT_BATCH_SIZE)  # warm up
        began = time.perf_counter()
        vectors = embedder.embed_texts(rows, DEFAULT_BATCH_SIZE)
        result["rows_per_s"] = len(rows) / (time.perf_counter() - began)
        np.save(args.vectors, vectors)
    print(json.dumps(result))


def run_fresh(*command: str) -> dict:
    """Run a Python command line in a fresh process; return the JSON its last line prints."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, cwd=REPO, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: {command[:3]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_worker(*options: str) -> dict:
    """Run this script as a worker in a fresh process; return its JSON figures."""
    return run_fresh(__file__, *options)


def row_cosines(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Return the cosine of each row of left with the same row of right (unit rows)."""
    return np.sum(left * right, axis=1)


def main() -> None:
    """Build or reuse the MiniLM export, run the workers, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--processes", type=int, default=5, help="fresh starts to time")
    parser.add_argument("--rounds", type=int, default=1, help="times to run every path")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir() / "onnx")
    parser.add_argument("--worker", choices=["onnx", "st"], help=argparse.SUPPRESS)
    parser.add_argument("--build", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--vectors", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    build = str(ensure_build(args.cache_dir))
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    starts = [run_fresh("-c", STARTUP_CODE, build, *HEAVY_MODULES) for _ in range(args.processes)]

    def median_ms(key: str) -> float:
        return statistics.median(start[key] for start in starts) * 1000

    print(f"fresh process, median of {args.processes}: import search_app.embedders.onnx_embedder "
          f"{median_ms('import_s'):.0f} ms (of which the search_app package "
          f"{median_ms('package_s'):.0f} ms), model_files_dir + onnx_dir_for "
          f"{median_ms('name_s'):.1f} ms, load_onnx_embedder(MiniLM) {median_ms('load_s'):.0f} "
          f"ms, first embed_query {median_ms('first_query_s'):.1f} ms; heavy modules imported: "
          f"{sorted({name for start in starts for name in start['heavy']}) or 'none'}")  # fmt: skip
    onnx, st = ("--worker", "onnx", "--build", build), ("--worker", "st", "--precision")
    paths = {
        "ONNX fp32, 1 thread": (*onnx, "--threads", "1"),
        "ONNX fp32, 2 threads": (*onnx, "--threads", "2"),
        "sentence-transformers bf16": (*st, "bf16", "--threads", "2"),
        "s-t bf16, 1 torch thread": (*st, "bf16", "--threads", "1"),
        "sentence-transformers fp32": (*st, "fp32", "--threads", "2"),
    }
    runs: dict[str, list[dict]] = {label: [] for label in paths}
    vectors = {}
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(args.rounds):  # rounds alternate paths against load swings
            for label, options in paths.items():
                out = str(Path(scratch) / f"{len(vectors)}.npy")
                sizes = ("--queries", str(args.queries), "--rows", str(args.rows))
                runs[label].append(run_worker(*options, *sizes, "--vectors", out))
                vectors[label] = np.load(out)
            print(f"round {round_number + 1}: load average {os.getloadavg()[0]:.2f}", flush=True)
    print(
        f"embed_query over {args.queries} sample sentences x {args.rounds} rounds, bulk "
        f"embed_texts over {args.rows} (batch {DEFAULT_BATCH_SIZE}, median of rounds):"
    )
    print(f"  {'path':28} {'load s':>7} {'p50 ms':>7} {'p99 ms':>7} {'rows/s':>8}")
    for label, got in runs.items():
        times = [t for run in got for t in run["query_s"]]
        p50, p99 = (float(np.percentile(times, q)) * 1000 for q in (50, 99))
        load_s = statistics.median(run["load_s"] for run in got)
        rows_per_s = statistics.median(run["rows_per_s"] for run in got)
        print(f"  {label:28} {load_s:7.2f} {p50:7.2f} {p99:7.2f} {rows_per_s:8.0f}")
    onnx_vectors, fp32 = vectors["ONNX fp32, 1 thread"], vectors["sentence-transformers fp32"]
    bf16 = vectors["sentence-transformers bf16"]
    print(f"min cosine over {args.rows} sentences: ONNX vs sentence-transformers fp32 "
          f"{row_cosines(onnx_vectors, fp32).min():.7f}; vs bf16 "
          f"{row_cosines(onnx_vectors, bf16).min():.5f} "
          f"(bf16 vs fp32 {row_cosines(bf16, fp32).min():.5f})")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
