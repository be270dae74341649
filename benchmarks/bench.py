"""Speed benchmark of gifsearch on this machine: ingest, re-ingest, query latency, CLIP cost.

Every measurement runs in its own worker process (benchmarks/measure.py) so its peak RSS
is its own and runs don't warm each other up. Prints a table (stdout) and JSON (--out);
progress goes to stderr. Sizes above the bundled sample's 11,112 rows are synthetic: the
sample replicated with one light perturbation per copy (a word swapped or inserted) and
a changed URL, so every copy is a new GIF.

A per-stage profile of the ingest at --profile-rows (20,000) splits the job's time into
reading, hashing ids, the existing-id check, encoding and the write, and the write into
Chroma's SQLite log, metadata and document indexes and HNSW insert.

Usage: python benchmarks/bench.py [--sizes 10000,20000] [--large-rows 100000] [--quick]
       [--profile-rows 20000] [--out FILE]
(or `gifsearch bench`, which takes the same options).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from search_app.embedders.sbert import cpu_supports_bf16
from search_app.settings import DEFAULT_BATCH_SIZE

MEASURE_SCRIPT = Path(__file__).resolve().with_name("measure.py")
DEFAULT_SIZES = (10_000, 20_000)
DEFAULT_LARGE_ROWS = 100_000  # run in the fastest precision only, to keep the run ~20 min
QUICK_SIZES = (100,)
DEFAULT_QUERY_INDEX_ROWS = 20_000  # the default ingest --limit
DEFAULT_PROFILE_ROWS = 20_000
DEFAULT_QUERIES = 300
DEFAULT_CLIP_TEXTS = 1_024
DEFAULT_CLIP_IMAGES = 64
SEARCH_K = 10
FILLER_WORDS = ("really", "slowly", "quickly", "then", "again", "still", "just", "suddenly")


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which."""


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def describe_machine() -> dict[str, object]:
    """Return CPU model, core count, RAM, load average and package versions."""
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    ram_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    versions = {}
    for package in ("torch", "sentence-transformers", "transformers", "chromadb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "missing"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(ram_gib, 1),
        "bf16": cpu_supports_bf16(),
        "gpu": "none (CPU only)",
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "versions": versions,
    }


def perturb(description: str, rng: random.Random) -> str:
    """Swap two neighbouring words or insert a filler word (final punctuation stays last)."""
    words = description.split()
    body = words[:-1] if words and not words[-1].isalnum() else words
    tail = words[len(body) :]
    if len(body) >= 3 and rng.random() < 0.5:
        i = rng.randrange(len(body) - 1)
        body[i], body[i + 1] = body[i + 1], body[i]
    else:
        body.insert(rng.randrange(len(body) + 1), rng.choice(FILLER_WORDS))
    return " ".join(body + tail)


def synthetic_lines(rows: list[tuple[str, str]], size: int, seed: int = 0) -> list[str]:
    """Return size TSV lines: the rows, then perturbed copies with new URLs."""
    lines: list[str] = []
    copy = 0
    while len(lines) < size:
        rng = random.Random(seed * 1_000_003 + copy)
        for url, description in rows:
            if copy == 0:
                lines.append(f"{url}\t{description}\n")
            else:
                lines.append(f"{url}?synthetic={copy}\t{perturb(description, rng)}\n")
            if len(lines) == size:
                break
        copy += 1
    return lines


def sample_rows() -> list[tuple[str, str]]:
    """Return the bundled sample's (url, description) rows in file order."""
    from ingest.reader import read_rows
    from ingest.sources import bundled_sample_path

    rows, _ = read_rows(bundled_sample_path(), "tgif-sample", None)
    return [(r.url, r.description) for r in rows]


def prepare_source(size: int, rows: list[tuple[str, str]], workdir: Path) -> dict[str, object]:
    """Return where a run of size rows reads from: the real sample or a synthetic file."""
    from ingest.sources import bundled_sample_path

    if size <= len(rows):
        return {"source": str(bundled_sample_path()), "limit": size, "data": "real (tgif-sample)"}
    path = workdir / f"synthetic-{size}.tsv"
    if not path.exists():
        path.write_text("".join(synthetic_lines(rows, size)), encoding="utf-8")
    copies = -(-size // len(rows))
    return {"source": str(path), "limit": None, "data": f"synthetic (sample x{copies}, perturbed)"}


def run_worker(tasks: list[dict], progress: bool) -> list[dict]:
    """Run tasks in one fresh worker process; return their results."""
    command = [sys.executable, str(MEASURE_SCRIPT), json.dumps(tasks)]
    if not progress:
        command.append("--no-progress")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, check=False)
    if done.returncode != 0:
        kinds = ", ".join(f"{t['kind']} {t.get('size', '')}".strip() for t in tasks)
        raise BenchError(f"the {kinds} worker failed (exit {done.returncode}); see its stderr")
    results = [
        json.loads(line[len("RESULT ") :])
        for line in done.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    for result in results:
        result["process_seconds"] = time.perf_counter() - started
    return results


def ingest_runs(args: argparse.Namespace) -> list[tuple[str, int]]:
    """Return the (precision, rows) ingest runs: every size per precision, then the large one."""
    runs = [(precision, size) for precision in args.precisions for size in args.sizes]
    if args.large_rows and (args.precisions[-1], args.large_rows) not in runs:
        runs.append((args.precisions[-1], args.large_rows))
    return runs


def plan_tasks(args: argparse.Namespace, workdir: Path, rows: list) -> list[dict]:
    """Return every task of the run, in order, each labelled with its data."""
    tasks: list[dict] = []
    for precision, size in ingest_runs(args):
        source = prepare_source(size, rows, workdir)
        store = str(workdir / f"store-{precision}-{size}")
        common = {**source, "model": args.model, "precision": precision, "size": size}
        tasks.append({"kind": "encode", "batch_size": DEFAULT_BATCH_SIZE, **common})
        tasks.append({"kind": "ingest", "store": store, **common})
        tasks.append({"kind": "reingest", "store": store, **common})
    if args.profile_rows:
        tasks.append(
            {
                "kind": "profile",
                **prepare_source(args.profile_rows, rows, workdir),
                "model": args.model,
                "precision": args.precisions[-1],
                "size": args.profile_rows,
            }
        )
    query_size = args.query_rows or max(args.sizes)
    queries = workdir / "queries.txt"
    rng = random.Random(7)
    picked = rng.sample(rows, min(args.queries, len(rows)))
    queries.write_text("".join(perturb(d, rng) + "\n" for _, d in picked), encoding="utf-8")
    tasks.append(
        {
            "kind": "query",
            **prepare_source(query_size, rows, workdir),
            "queries": str(queries),
            "model": args.model,
            "precision": args.precisions[-1],
            "k": SEARCH_K,
            "size": query_size,
        }
    )
    if args.clip_texts:
        tasks.append(
            {
                "kind": "clip",
                "source": str(prepare_source(len(rows), rows, workdir)["source"]),
                "texts": args.clip_texts,
                "images": args.clip_images,
                "precisions": args.precisions,
            }
        )
    return tasks


def run_tasks(tasks: list[dict], args: argparse.Namespace) -> list[dict]:
    """Run each task in its own process (all in one with --quick); show progress."""
    if args.quick:
        log(f"--quick: {len(tasks)} tasks in one process (peak RSS is not per task)")
        return run_worker(tasks, not args.no_progress)
    results = []
    for number, task in enumerate(tasks, start=1):
        what = f"{task['kind']} {task.get('size', '')} {task.get('precision', '')}".strip()
        log(f"[{number}/{len(tasks)}] {what}")
        results += run_worker([task], not args.no_progress)
        log(f"[{number}/{len(tasks)}] {what}: {summarize(results[-1])}")
    return results


def summarize(result: dict) -> str:
    """Return one short line about a result for the progress log."""
    if "rows_per_s" in result:
        return f"{result['rows_per_s']:.0f} rows/s, peak RSS {result['peak_rss_mb']:.0f} MiB"
    if "write_parts" in result:
        return f"write replayed in {result['write_parts']['documents']['seconds']:.1f} s"
    if "latency" in result:
        return f"search p50 {result['latency']['search']['p50_ms']:.1f} ms"
    return f"{result['wall_seconds']:.1f} s"


def parse_sizes(text: str) -> list[int]:
    """argparse type: comma-separated row counts, each 1 or more."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of row counts") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give row counts of 1 or more, e.g. 10000,20000"
        )
    return sizes


def parse_precisions(text: str) -> list[str]:
    """argparse type: comma-separated precisions out of fp32 and bf16."""
    precisions = [part.strip() for part in text.split(",") if part.strip()]
    bad = [p for p in precisions if p not in ("fp32", "bf16")]
    if bad or not precisions:
        raise argparse.ArgumentTypeError(f"{text!r}: use fp32, bf16 or fp32,bf16")
    return precisions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark's options to parser (shared by this script and `gifsearch bench`)."""
    parser.add_argument(
        "--sizes", type=parse_sizes, help="ingest sizes in rows, per precision (10000,20000)"
    )
    parser.add_argument(
        "--large-rows",
        type=int,
        help=f"one more ingest size, in the fastest precision only ({DEFAULT_LARGE_ROWS}; 0 skips)",
    )
    parser.add_argument(
        "--precisions", type=parse_precisions, help="fp32 and, where the CPU has it, bf16"
    )
    parser.add_argument("--model", default="minilm", help="embedding model (minilm)")
    parser.add_argument(
        "--query-rows", type=int, help="rows indexed for query latency (largest size)"
    )
    parser.add_argument(
        "--profile-rows",
        type=int,
        help=f"rows of the per-stage write profile ({DEFAULT_PROFILE_ROWS}; 0 skips)",
    )
    parser.add_argument(
        "--queries", type=int, default=None, help=f"queries timed ({DEFAULT_QUERIES})"
    )
    parser.add_argument(
        "--clip-texts",
        type=int,
        default=None,
        help=f"CLIP texts ({DEFAULT_CLIP_TEXTS}; 0 skips CLIP)",
    )
    parser.add_argument(
        "--clip-images", type=int, default=None, help=f"CLIP images ({DEFAULT_CLIP_IMAGES})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny smoke run: 100 rows, one precision, all in one process",
    )
    parser.add_argument("--out", help="also write the results as JSON to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the tables")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def apply_defaults(args: argparse.Namespace) -> None:
    """Fill options left out, smaller ones under --quick."""
    quick = args.quick
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if quick else DEFAULT_SIZES)
    if args.large_rows is None:
        args.large_rows = 0 if quick else DEFAULT_LARGE_ROWS
    if args.precisions is None:
        args.precisions = ["fp32", "bf16"] if cpu_supports_bf16() else ["fp32"]
        if quick:
            args.precisions = args.precisions[-1:]  # the faster one
    if args.query_rows is None and not quick:
        args.query_rows = DEFAULT_QUERY_INDEX_ROWS
    if args.profile_rows is None:
        args.profile_rows = max(args.sizes) if quick else DEFAULT_PROFILE_ROWS
    if args.queries is None:
        args.queries = 10 if quick else DEFAULT_QUERIES
    if args.clip_texts is None:
        args.clip_texts = 8 if quick else DEFAULT_CLIP_TEXTS
    if args.clip_images is None:
        args.clip_images = 1 if quick else DEFAULT_CLIP_IMAGES


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark the options ask for; print the tables (or JSON)."""
    apply_defaults(args)
    machine = describe_machine()
    log(
        f"{machine['cpu']}, {machine['cores']} cores; load average {machine['load_average_before']}"
    )
    with tempfile.TemporaryDirectory(prefix="gifsearch-bench-") as scratch:
        workdir = Path(scratch)
        rows = sample_rows()
        tasks = plan_tasks(args, workdir, rows)
        started = time.perf_counter()
        results = run_tasks(tasks, args)
        import bench_report as reporting  # a sibling script: benchmarks/ is on sys.path

        report = reporting.collect(results, machine, ingest_runs(args), args.model, args.quick)
        report["seconds"] = time.perf_counter() - started
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.out}")
    print(json.dumps(report, indent=2) if args.json else reporting.format_report(report))
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse the options and run the benchmark (a bad option exits 2, a failed step 1)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    try:
        return run_bench(parser.parse_args(argv))
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
