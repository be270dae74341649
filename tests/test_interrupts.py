"""Ctrl+C: real SIGINTs to real `gifsearch` processes (issue 22, case 3). check-links over
40 links whose servers trickle a header byte every 4 s (the issue's reproduction: it
exited 119 s after SIGINT, holding the writer lock) stops at once and releases the lock;
a second Ctrl+C ends a process whose cleanup would take long at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gifsearch.cli import main
from ingest.job import IngestOptions, run_ingest
from search_app.settings import Settings
from search_app.store.client import GifStore
from search_app.store.lock import LOCK_FILE_NAME, hold_writer_lock
from tests.conftest import write_tsv
from tests.frames.conftest import trickle_headers_route
from tests.local_http import serve_handlers

LINKS = 40
TRICKLE_EVERY_S = 4.0  # below the 5 s read timeout: only the 30 s deadline would end a check
STOP_WITHIN_S = 10.0  # measured ~0.3 s; the bound leaves room for a busy machine


@pytest.fixture
def trickling_store(tmp_path: Path, cached_loader: Callable) -> Iterator[tuple[Settings, list]]:
    """A store of LINKS GIFs, each on a route trickling its headers; yields the settings
    and the list of paths the server was asked for."""
    routes = {f"/{n}.gif": trickle_headers_route(TRICKLE_EVERY_S) for n in range(LINKS)}
    with serve_handlers(routes) as (base, asked):
        settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache",
                            model="minilm", allow_private_urls=True)  # fmt: skip
        rows = [f"{base}/{n}.gif\ta cat number {n} naps\n" for n in range(LINKS)]
        source = write_tsv(tmp_path / "rows.tsv", rows)
        run_ingest(IngestOptions(source=str(source)), settings, loader=cached_loader)
        yield settings, asked


def lock_holder(store_dir: Path) -> dict[str, object]:
    try:
        holder: dict[str, object] = json.loads((store_dir / LOCK_FILE_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return holder


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.1)


def test_ctrl_c_stops_check_links_at_once_and_releases_its_lock(
    trickling_store: tuple[Settings, list], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, asked = trickling_store
    checker = subprocess.Popen(
        [sys.executable, "-m", "gifsearch", "check-links", "--store", str(settings.store_dir),
         "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: lock_holder(settings.store_dir).get("pid") == checker.pid, 120)
        wait_for(lambda: len(asked) >= 8, 60)  # checks in flight, each stuck in its headers

        # While it holds the lock, another writer is told who holds it (case 14: the
        # message named an ingest whatever held it).
        source = write_tsv(tmp_path / "more.tsv", ["https://x.test/m.gif\ta dog naps\n"])
        capsys.readouterr()
        code = main(["ingest", "--source", str(source), "--store", str(settings.store_dir),
                     "--model", "minilm", "--quiet"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1, err
        assert f"is being written by pid {checker.pid}" in err
        assert "(gifsearch check-links); wait for it to finish" in err
        assert "ingest" not in err.split("written by", 1)[1]

        interrupted_at = time.monotonic()
        checker.send_signal(signal.SIGINT)
        out, err = checker.communicate(timeout=120)
        stopped_after = time.monotonic() - interrupted_at
    finally:
        if checker.poll() is None:
            checker.kill()
            checker.wait()
    print(f"check-links stopped {stopped_after:.2f} s after SIGINT")  # the figure, with -s
    assert checker.returncode == 130 and out == ""
    assert err == "gifsearch: interrupted\n", err
    assert stopped_after < STOP_WITHIN_S, f"took {stopped_after:.1f} s"
    with hold_writer_lock(settings.store_dir):  # released
        pass
    assert {row.link for row in GifStore(settings).read_all()} == {""}  # nothing recorded


SLOW_CLEANUP = """
import sys, time
from gifsearch.cli import make_second_interrupt_end_at_once
make_second_interrupt_end_at_once()
try:
    print("ready", flush=True)
    time.sleep(120)
finally:
    print("cleaning up", flush=True)
    time.sleep(120)  # a cleanup that would take two minutes
"""


def test_a_second_ctrl_c_ends_the_process_at_once() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_CLEANUP], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGINT)
        assert process.stdout.readline() == "cleaning up\n"  # the first: cleanup begins
        again_at = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        ended_after = time.monotonic() - again_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert process.stderr is not None
    assert process.stderr.read() == "gifsearch: interrupted again: stopped at once\n"
    assert ended_after < 5  # not the cleanup's 120 s


ENDING_WITH_A_DAEMON_THREAD = """
import atexit, sys, tempfile, threading, time
from pathlib import Path
from gifsearch.cli import end_program
folder = tempfile.TemporaryDirectory(prefix="gifsearch-ending-")  # removed at exit
print(folder.name)
atexit.register(lambda: print("exit handlers ran"))
if sys.argv[1] == "busy":  # a background read still running, as the catalog's may be
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
print("done", end="")  # unflushed: the end flushes it
end_program(7)
print(" and returned")
sys.exit(8)
"""


@pytest.mark.parametrize("busy", [True, False], ids=["daemon-thread", "none"])
def test_a_program_with_a_daemon_thread_left_ends_without_teardown_but_with_its_exit_handlers(
    busy: bool,
) -> None:
    """serve stopped by Ctrl+C while its catalog was read in the background crashed with
    SIGSEGV in the interpreter's teardown: end_program ends such a program after running
    the exit handlers, with the command's code; with no daemon thread it returns."""
    done = subprocess.run(
        [sys.executable, "-c", ENDING_WITH_A_DAEMON_THREAD, "busy" if busy else "idle"],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    folder, rest = done.stdout.split("\n", 1)
    if busy:
        assert (done.returncode, rest) == (7, "doneexit handlers ran\n"), done.stderr
    else:
        assert (done.returncode, rest) == (8, "done and returned\nexit handlers ran\n")
    assert not Path(folder).exists()  # the temporary folder's finalizer ran either way
