"""The writer lock: one ingest at a time may write to an embedded store directory."""

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

from search_app.errors import StoreLockedError

LOCK_FILE_NAME = ".gifsearch-writer.lock"


def describe_holder(lock_path: Path) -> str:
    """Return 'pid N on HOST since HH:MM:SS (command)' from a lock file, or a fallback."""
    try:
        holder = json.loads(lock_path.read_text())
        since = time.strftime("%H:%M:%S", time.localtime(holder["since"]))
        return f"pid {holder['pid']} on {holder['host']} since {since} ({holder['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def hold_writer_lock(store_dir: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on store_dir while the block runs.

    flock is released by the kernel when the holder exits, even on SIGKILL, so a crashed
    ingest never leaves a stale lock behind. A second writer fails at once, naming the first.
    """
    store_dir.mkdir(parents=True, exist_ok=True)
    lock_path = store_dir / LOCK_FILE_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLockedError(
                f"{store_dir}/ is being written by {describe_holder(lock_path)}; "
                "wait for that ingest to finish (or stop it) and run this one again"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.time(),
            "command": " ".join(os.path.basename(a) for a in sys.argv[:2]) or "python",
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
