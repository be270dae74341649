"""The API's concurrency bound: a few searches run at once, a few more wait a moment, and
the rest are refused at once (429), so that overload never queues without end.

Written here, not taken from a library: uvicorn's limit_concurrency (kept as the server's
outer cap, web/server.py) answers every route with a plain-text 503, where each dialect
needs its own error shape, and counts connections rather than searches.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

RUNNING = 2  # searches at once: one per core here; more only contend for the CPU
WAITING = 32  # requests that may wait for a slot
WAIT_S = 5.0  # the longest a waiting request waits before it is refused


class Overloaded(Exception):
    """The API is at its bound: refuse the request with 429 (or 503), in its dialect."""


class Slots:
    """RUNNING slots and a WAITING queue in front of them (thread-safe)."""

    def __init__(self, running: int = RUNNING, waiting: int = WAITING, wait_s: float = WAIT_S):
        self._slots = threading.BoundedSemaphore(running)
        self._lock = threading.Lock()
        self._waiting = 0
        self.limit = waiting
        self.wait_s = wait_s

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot while the block runs; raise Overloaded when none comes in time."""
        if not self._slots.acquire(blocking=False):
            with self._lock:
                if self._waiting >= self.limit:
                    raise Overloaded("too many requests at once: try again in a moment")
                self._waiting += 1
            try:
                got = self._slots.acquire(timeout=self.wait_s)
            finally:
                with self._lock:
                    self._waiting -= 1
            if not got:
                raise Overloaded("the server is busy: try again in a moment")
        try:
            yield
        finally:
            self._slots.release()
