"""SIGKILL an ingest at seeded random moments; the store must open, answer and converge.

The default run kills 3 times; `pytest -m slow` (make test-slow) runs the full loop of 12.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.reader import read_rows
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from search_app.store.client import GifStore
from tests.conftest import SAMPLE_LINES, write_tsv

ROWS = 4_000
KILL_WINDOW_S = (0.2, 2.5)  # after embedding starts: embedding, upserts, the end of the job


def start_ingest(source: Path, store: Path, quiet: bool = True) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gifsearch",
            "ingest",
            "--source",
            str(source),
            "--store",
            str(store),
            "--model",
            "minilm",
            *(["--quiet"] if quiet else []),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def wait_for_embedding(process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    """Block until the ingest's progress bar shows embedding has begun (or it ended)."""
    seen = threading.Event()

    def watch() -> None:
        assert process.stderr is not None
        buffer = b""
        while chunk := process.stderr.read1(4096):  # type: ignore[attr-defined]  # typed IO[bytes]; a pipe is a BufferedReader
            buffer = (buffer + chunk)[-256:]
            if b"embed" in buffer:
                seen.set()
        seen.set()  # stream closed: the process ended

    threading.Thread(target=watch, daemon=True).start()
    seen.wait(timeout_s)


def kill_loop(tmp_path: Path, kills: int, seed: int, cached_loader) -> list[str]:
    """Kill, check, re-run, check — `kills` times, each on a new store; return the outcomes."""
    rng = random.Random(seed)
    source = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:ROWS])
    expected_rows, _ = read_rows(source, str(source.resolve()), limit=None)
    expected = {(r.row_id, r.description, r.url) for r in expected_rows}
    outcomes = []
    for attempt in range(kills):
        settings = Settings(store_dir=tmp_path / f"store-{attempt}", model="minilm")
        store_dir = settings.store_dir
        process = start_ingest(source, store_dir, quiet=False)
        wait_for_embedding(process)
        time.sleep(rng.uniform(*KILL_WINDOW_S))
        finished = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.wait()
        after = GifStore(settings).count() if store_dir.exists() else 0
        outcomes.append("finished first" if finished else f"killed at {after} rows written")
        # The store opens and answers queries right after the kill.
        if GifStore(settings).binding() is not None and after:
            hits = SearchEngine.open(settings, loader=cached_loader).search(
                SearchRequest("a dog", k=3)
            )
            assert hits and all(-1.0 <= h.score <= 1.0001 for h in hits)
        # Re-running the same ingest completes and converges to exactly the expected rows.
        rerun = start_ingest(source, store_dir)
        assert rerun.wait(timeout=300) == 0, rerun.stderr.read() if rerun.stderr else ""
        rows = GifStore(settings).read_all()
        assert len(rows) == len(expected)  # no duplicates
        assert {(r.row_id, r.description, r.url) for r in rows} == expected
        assert SearchEngine.open(settings, loader=cached_loader).search(SearchRequest("a dog", k=3))
    return outcomes


def test_killed_ingests_leave_a_working_store_that_converges(tmp_path: Path, cached_loader) -> None:
    outcomes = kill_loop(tmp_path, kills=3, seed=1, cached_loader=cached_loader)
    print("kill outcomes:", outcomes)


@pytest.mark.slow
def test_killed_ingests_full_loop(tmp_path: Path, cached_loader) -> None:
    outcomes = kill_loop(tmp_path, kills=12, seed=2026, cached_loader=cached_loader)
    print("kill outcomes:", outcomes)
    assert len(outcomes) == 12
