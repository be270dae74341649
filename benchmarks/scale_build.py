"""The scale benchmark's collections: built once per size and store kind, then cached.

A size's folder (CACHE/<rows>/) holds its synthetic TGIF-format source (rows.tsv: the
bundled sample's rows, then perturbed copies with new URLs, as benchmarks/bench.py makes
them), the embedded store (embedded/), a `chroma run` server's data (server/), the ONNX
query embedder the ingest built (cache/), the stored vectors in row order (vectors.f32,
ids.txt: for brute-force recall and the server's ingest) and, written last, what each
build measured (built-embedded.json, built-server.json). A folder without its JSON is an
unfinished build and is built again from scratch.

The embedded store is filled by `gifsearch ingest` itself, in a new process: the whole
job, encoding included, with its progress bar (kept in ingest-embedded.log, whose ETAs
are checked against the time the job took). The server's collection is filled by the
same ingest job (ingest.job.run_ingest) through Chroma's HttpClient, with the encoding
replayed from the embedded store's vectors (scale_measure.ReplayEmbedder): its figures are
a real ingest's reading, existing-id check and write into a real server, not an encode.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bench  # a sibling script: benchmarks/ is on sys.path
from measure import machine_busy_seconds, others_share

REPO = Path(__file__).resolve().parents[1]
MODEL = "minilm"
ETA_CHECKPOINTS = (0.10, 0.25, 0.50, 0.75)  # shares of the embed bar whose ETA is checked
MIN_ETA_CHECK_S = 10.0  # tqdm shows whole seconds: shorter remainders say little
BAR_LINE = re.compile(r"embed:\s+\d+%.*?\|\s*(\d+)/(\d+) \[([\d:]+)<([\d:?]+)")


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"scale: {message}", file=sys.stderr, flush=True)


class ScaleError(RuntimeError):
    """A build or measurement step failed; the message says which."""


@dataclass(frozen=True)
class SizeDir:
    """Where one size's source, stores, vectors and build records live."""

    root: Path
    rows: int

    @classmethod
    def of(cls, cache: Path, rows: int) -> SizeDir:
        """The folder of a size under the benchmark's cache."""
        return cls(cache / str(rows), rows)

    @property
    def source(self) -> Path:
        return self.root / "rows.tsv"

    @property
    def embedded(self) -> Path:
        return self.root / "embedded"

    @property
    def server(self) -> Path:
        return self.root / "server"

    @property
    def model_cache(self) -> Path:
        return self.root / "cache"

    @property
    def vectors(self) -> Path:
        return self.root / "vectors.f32"

    @property
    def ids(self) -> Path:
        return self.root / "ids.txt"

    def record(self, kind: str) -> Path:
        """The JSON a finished build of this store kind wrote."""
        return self.root / f"built-{kind}.json"

    def built(self, kind: str) -> dict | None:
        """What the build of this store kind measured, or None when it is not built."""
        path = self.record(kind)
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def command_env(size: SizeDir) -> dict[str, str]:
    """The environment every gifsearch process of a size runs in (offline, its caches)."""
    return {
        **os.environ,
        "GIFSEARCH_CACHE_DIR": str(size.model_cache),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def disk_bytes(path: Path) -> int:
    """Bytes the files under path take on disk (allocated blocks, as du counts them)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def code_commit() -> str:
    """The checkout's commit (with +dirty when it has changes), for the build records."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain") else "")


def write_source(size: SizeDir) -> None:
    """Write the size's synthetic source once (atomically: a cut-off write is redone)."""
    if size.source.is_file():
        return
    size.root.mkdir(parents=True, exist_ok=True)
    partial = size.source.with_suffix(".partial")
    lines = bench.synthetic_lines(bench.sample_rows(), size.rows)
    partial.write_text("".join(lines), encoding="utf-8")
    partial.replace(size.source)


def seconds_of(clock: str) -> float:
    """tqdm's [H:]MM:SS as seconds."""
    total = 0.0
    for part in clock.split(":"):
        total = total * 60 + float(part)
    return total


def eta_checks(bar_log: str, bar_s: float) -> list[dict[str, float]]:
    """Compare the embed bar's ETA at each checkpoint with the time the bar still took.

    bar_log is the job's stderr (tqdm's carriage-return updates); bar_s is how long the
    bar ran: the job's encode and write stages, its loop (its last update may not be drawn).
    """
    updates = []
    for match in BAR_LINE.finditer(bar_log):
        done, total, elapsed, left = match.groups()
        if "?" not in left:
            updates.append((int(done) / int(total), seconds_of(elapsed), seconds_of(left)))
    checks = []
    for share in ETA_CHECKPOINTS:
        first = next((u for u in updates if u[0] >= share), None)
        took = bar_s - first[1] if first is not None else 0.0
        if first is not None and took >= MIN_ETA_CHECK_S:
            checks.append(
                {"at": share, "eta_s": first[2], "took_s": took, "error": first[2] / took - 1}
            )
    return checks


def ingest_eta(size: SizeDir, record: dict) -> list[dict[str, float]]:
    """The ETA checks of the size's embedded ingest, read again from its kept log."""
    log_path = size.root / "ingest-embedded.log"
    if not log_path.is_file():
        return []
    stages = record["ingest"]["stages"]
    bar_s = stages.get("encode", 0.0) + stages.get("write", 0.0)
    return eta_checks(log_path.read_text(encoding="utf-8", errors="replace"), bar_s)


def run_ingest_command(size: SizeDir, log_path: Path) -> dict:
    """Run `gifsearch ingest` of the size's source into its embedded store in a new
    process (its progress shown and kept in log_path); return its figures."""
    command = [sys.executable, "-m", "gifsearch", "ingest", "--source", str(size.source)]
    command += ["--all", "--store", str(size.embedded), "--model", MODEL, "--json"]
    busy, started = machine_busy_seconds(), time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=command_env(size),
        cwd=REPO,
    )
    assert process.stdout is not None and process.stderr is not None
    kept = bytearray()

    def tee(stream: object) -> None:
        for chunk in iter(lambda: stream.read1(4096), b""):  # type: ignore[attr-defined]
            kept.extend(chunk)
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()

    teeing = threading.Thread(target=tee, args=(process.stderr,), daemon=True)
    teeing.start()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    teeing.join(timeout=5)
    log_path.write_bytes(bytes(kept))
    if process.returncode != 0:
        raise ScaleError(f"gifsearch ingest of {size.rows:,} rows failed; see {log_path}")
    report = json.loads(output)
    own_cpu = usage.ru_utime + usage.ru_stime
    return {
        "command": " ".join(command[1:]),
        "rows": report["kept"],
        "wall_s": wall,
        "job_s": report["seconds"],
        "load_s": report["load_seconds"],
        "rows_per_s": report["rows_per_s"],
        "stages": report["stages"],
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "cpu_s": own_cpu,
        "others_cpu_share": others_share(busy, own_cpu, wall),
    }


def run_worker(task: dict) -> dict:
    """Run one scale_measure.py task in a new process; return its result."""
    script = Path(__file__).resolve().with_name("scale_measure.py")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(task)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    results = [
        json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")
    ]
    if done.returncode != 0 or not results:
        raise ScaleError(f"the {task['kind']} task failed (exit {done.returncode}); see its stderr")
    return results[0]


def build_embedded(size: SizeDir) -> dict:
    """Build the size's embedded store (and its vectors file) unless it is built."""
    record = size.built("embedded")
    if record is not None:
        record["ingest"]["eta"] = ingest_eta(size, record)
        return record
    log(f"{size.rows:,} rows, embedded store: building (gifsearch ingest, encoding included)")
    for stale in (size.embedded, size.model_cache, size.vectors, size.ids):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    write_source(size)
    ingest = run_ingest_command(size, size.root / "ingest-embedded.log")
    log(f"{size.rows:,} rows: exporting the stored vectors in row order")
    exported = run_worker(
        {
            "kind": "export",
            "store": str(size.embedded),
            "source": str(size.source),
            "vectors": str(size.vectors),
            "ids": str(size.ids),
        }
    )
    record = {
        "rows": size.rows,
        "built_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": code_commit(),
        "ingest": ingest,
        "disk_bytes": disk_bytes(size.embedded),
        "export_s": exported["seconds"],
    }
    size.record("embedded").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    record["ingest"]["eta"] = ingest_eta(size, record)
    return record


def process_memory(pid: int) -> dict[str, float]:
    """A live process's resident and peak resident set size in MiB (Linux's /proc)."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0]) / 1024
    return {"rss_mib": figures.get("VmRSS", 0.0), "peak_rss_mib": figures.get("VmHWM", 0.0)}


def process_cpu_s(pid: int) -> float:
    """A live process's CPU seconds so far (user + system; Linux's /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def chroma_server(data: Path) -> Iterator[tuple[int, int]]:
    """Run `chroma run --path data` on a free port; yield (port, pid); stop it after."""
    sys.path.insert(0, str(REPO))
    from tests.chroma_server import chroma_process

    data.mkdir(parents=True, exist_ok=True)
    with chroma_process(data, stop_timeout_s=30.0) as (port, process):
        yield port, process.pid


def build_server(size: SizeDir) -> dict:
    """Fill the size's collection on a `chroma run` server unless it is built: the ingest
    job through Chroma's HttpClient, the encoding replayed from the embedded store's
    vectors (so the embedded store is built first)."""
    record = size.built("server")
    if record is not None:
        return record
    build_embedded(size)
    log(f"{size.rows:,} rows, chroma server: building (the ingest job, encoding replayed)")
    if size.server.exists():
        shutil.rmtree(size.server)
    with chroma_server(size.server) as (port, pid):
        busy, cpu_before = machine_busy_seconds(), process_cpu_s(pid)
        started = time.perf_counter()
        job = run_worker(
            {
                "kind": "replay_ingest",
                "port": port,
                "source": str(size.source),
                "vectors": str(size.vectors),
                "ids": str(size.ids),
                "cache": str(size.model_cache),
            }
        )
        wall = time.perf_counter() - started
        server_cpu = process_cpu_s(pid) - cpu_before
        server_memory = process_memory(pid)
    job["others_cpu_share"] = others_share(busy, job["cpu_s"] + server_cpu, wall)
    record = {
        "rows": size.rows,
        "built_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": code_commit(),
        "ingest": job,
        "server_cpu_s": server_cpu,
        "server_peak_rss_mib": server_memory["peak_rss_mib"],
        "disk_bytes": disk_bytes(size.server / "db"),
    }
    size.record("server").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record
