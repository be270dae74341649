"""The writer lock: one writer at a time (an ingest, a link check) may write to an embedded
store directory."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from search_app.errors import (
    GifSearchError,
    StoreFullError,
    StoreLockedError,
    StoreUnavailableError,
)
from search_app.store.health import disk_full_message, is_disk_full

LOCK_FILE_NAME = ".gifsearch-writer.lock"


def describe_holder(lock_path: Path) -> str:
    """Return 'pid N on HOST since HH:MM:SS (command)' from a lock file, or a fallback."""
    try:
        holder = json.loads(lock_path.read_text())
        since = time.strftime("%H:%M:%S", time.localtime(holder["since"]))
        return f"pid {holder['pid']} on {holder['host']} since {since} ({holder['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def command_line() -> str:
    """The holder's command as a person knows it: 'gifsearch check-links' (also when run
    as python -m gifsearch, whose argv[0] is the package's __main__.py)."""
    if not sys.argv or not sys.argv[0]:
        return "python"
    program = Path(sys.argv[0])
    name = program.parent.name if program.name == "__main__.py" else program.name
    return " ".join([name, *sys.argv[1:2]])


def lock_file_error(store_dir: Path, exc: OSError) -> GifSearchError:
    """The one line for a store folder or lock file that can't be written."""
    if is_disk_full(exc):
        return StoreFullError(disk_full_message(store_dir))
    return StoreUnavailableError(
        f"can't write the lock file of {store_dir}/ ({exc.strerror or exc}); "
        "check that folder's permissions or use another --store"
    )


@contextmanager
def hold_writer_lock(store_dir: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on store_dir while the block runs.

    flock is released by the kernel when the holder exits, even on SIGKILL, so a crashed
    ingest never leaves a stale lock behind. A second writer fails at once, naming the first.
    """
    lock_path = store_dir / LOCK_FILE_NAME
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise lock_file_error(store_dir, exc) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLockedError(
                f"{store_dir}/ is being written by {describe_holder(lock_path)}; "
                "wait for it to finish (or stop it) and run this command again"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.time(),
            "command": command_line(),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
        except OSError as exc:
            raise lock_file_error(store_dir, exc) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
