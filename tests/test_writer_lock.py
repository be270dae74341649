"""One writer per embedded store: a second ingest fails fast; readers keep working."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gifsearch.cli import main
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from tests.conftest import SAMPLE_LINES, write_tsv

HOLD_LOCK = (
    "import sys, time; from pathlib import Path; "
    "from search_app.store.lock import hold_writer_lock\n"
    "with hold_writer_lock(Path(sys.argv[1])):\n"
    "    print('locked', flush=True); time.sleep(60)\n"
)


def gifsearch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gifsearch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_second_writer_fails_fast_naming_the_first_and_lock_dies_with_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(store)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        source = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:10])
        started = time.monotonic()
        code = main(["ingest", "--source", str(source), "--store", str(store), "--quiet"])
        err = capsys.readouterr().err
        assert time.monotonic() - started < 10  # fails at once, never waits for the lock
        assert code == 1
        assert f"is being written by pid {holder.pid}" in err
        assert "wait for it to finish" in err and err.count("\n") == 1
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel dropped the killed holder's lock: the next ingest just runs.
    assert main(["ingest", "--source", str(source), "--store", str(store), "--quiet",
                 "--model", "minilm"]) == 0  # fmt: skip


def test_reader_keeps_searching_and_sees_committed_rows_while_an_ingest_runs(
    tmp_path: Path, cached_loader
) -> None:
    store = tmp_path / "store"
    first = write_tsv(tmp_path / "first.tsv", SAMPLE_LINES[:100])
    grown = write_tsv(tmp_path / "grown.tsv", SAMPLE_LINES[:2500])
    assert main(["ingest", "--source", str(first), "--store", str(store), "--quiet",
                 "--model", "minilm"]) == 0  # fmt: skip
    reader = SearchEngine.open(Settings(store_dir=store, model="minilm"), loader=cached_loader)
    writer = gifsearch("ingest", "--source", str(grown), "--store", str(store), "--quiet")
    counts = []
    while writer.poll() is None:
        counts.append(reader.store.count())
        assert len(reader.search(SearchRequest("a dog is running", k=5))) == 5
        time.sleep(0.1)
    assert writer.returncode == 0, writer.stderr.read() if writer.stderr else ""
    assert counts == sorted(counts) and counts[0] >= 100  # rows only ever appear
    assert reader.store.count() == 2500
    # A row the writer added is found by the reader's next query.
    url, description = SAMPLE_LINES[2400].rstrip("\n").split("\t")
    assert reader.search(SearchRequest(description, k=1))[0].url == url
