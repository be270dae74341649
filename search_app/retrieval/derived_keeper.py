"""Keeps a long-lived reader's (the web app's) categories and completions current, without
making a request wait or a search slow down.

current() returns what is held at once (None until the first is ready; the previous
state's while a new one is made) and, when the store may have changed, starts a check in a
background thread: an embedded store's files changed since the last look (two stat()
calls), or SERVER_CHECK_S passed for a Chroma server, whose writes leave no files here;
at most one check every MIN_CHECK_S.
The check compares the collection's content signature (retrieval/sample.py) with what is
held, then with the kept file (retrieval/derived.py: an ingest that changed the collection
has written it), and only then builds, once the store has been still for settle_s (an
ingest that is still writing will build at its end; an embedded store's files say when it
last changed, a server's signature is watched that long). The build runs in a separate process
at the lowest CPU priority: its pure-Python counting would otherwise hold the interpreter
lock that searches need, and its model would stay in the web app's memory.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from search_app.errors import GifSearchError, first_line
from search_app.retrieval.categories import Category
from search_app.retrieval.completion import Completer
from search_app.retrieval.derived import (
    Derived,
    build_derived,
    derived_path,
    keep_derived,
    lazy_embedding,
    load_derived,
    save_derived,
)
from search_app.retrieval.sample import content_signature
from search_app.settings import Settings
from search_app.store.client import GifStore, files_signature
from search_app.store.usage import PastSearch

if TYPE_CHECKING:
    from search_app.retrieval.engine import SearchEngine

SETTLE_S = 10.0  # an ingest adds rows every few seconds; a build waits this long for quiet
SERVER_CHECK_S = 60.0
# Checks no more often than this: the signature reads the last-added row, 6 s at 1M rows
# (Chroma counts rows to an offset), and an ingest changes the files every few seconds.
MIN_CHECK_S = 30.0
BUILD_DEADLINE_S = 900.0  # 1M rows: ~1 min to walk the ids, plus the model's load
CHILD_NICENESS = 19
MAX_ERROR_CHARS = 300
PAST_SEARCHES = 1_000  # the past searches completion looks through, most often first
PAST_FRESH_S = 2.0  # read again at most this often (a keystroke must not wait on SQLite)


def build_in_child(settings: Settings, out: Path, error: Path, signature: str) -> None:
    """Build the collection's derived data, of the rows signature names (read by the
    parent just before), and write it to out (a separate process's entry point); an
    expected failure's one line goes to error."""
    with contextlib.suppress(OSError):  # a lower priority is a courtesy, not a need
        os.nice(CHILD_NICENESS)
    try:
        store = GifStore(settings)
        embed = lazy_embedding(settings, store.require_binding().model)
        derived = build_derived(store, embed, signature)
        save_derived(out, derived)
    except (GifSearchError, OSError) as exc:
        error.write_text(first_line(exc)[:MAX_ERROR_CHARS], encoding="utf-8")
        raise SystemExit(1) from None


class DerivedKeeper:
    """Holds the engine's collection's Derived; see the module."""

    def __init__(
        self,
        engine: SearchEngine,
        settle_s: float = SETTLE_S,
        server_check_s: float = SERVER_CHECK_S,
        on_notice: Callable[[str], None] = lambda message: None,
        min_check_s: float = MIN_CHECK_S,
    ) -> None:
        self.engine = engine
        self.settle_s = settle_s
        self.server_check_s = server_check_s
        self.min_check_s = min_check_s
        self._checked_at = float("-inf")
        self.on_notice = on_notice
        self.problem = ""  # the last build's failure, one line ("" when none)
        self._held: Derived | None = None
        self._lock = threading.Lock()
        self._job: threading.Thread | None = None
        self._marker: object = None  # what the store looked like at the last check
        self._retry_at = float("inf")  # a check waiting for the signature to settle
        self._unsettled = ("", 0.0)  # a signature not built yet, and since when it holds
        self._past: tuple[float, list[PastSearch]] = (float("-inf"), [])

    def current(self) -> Derived | None:
        """Return what is held now (never waits), checking for a change in the background."""
        self._poke()
        return self._held

    def categories(self) -> list[Category]:
        """Return the collection's categories as held now ([] until they are ready)."""
        held = self.current()
        return list(held.categories) if held else []

    def completer(self) -> Completer:
        """Return a Completer of what is held now (past searches alone until it is ready)."""
        held = self.current()
        embed = self.engine.embedder.embed_query
        return (
            Completer(held.phrases, held.related, embed) if held else Completer(None, None, embed)
        )

    def complete(self, prefix: str, k: int) -> list[str]:
        """Complete a typed prefix: the person's past searches, then the collection's
        phrases (completion.py); past searches alone until the phrases are ready."""
        return self.completer().complete(prefix, k, self._past_searches())

    def suggestions(self, query: str, k: int) -> list[str]:
        """Related searches for a query ([] until the phrases are ready)."""
        return self.completer().suggestions(query, k)

    def _past_searches(self) -> list[PastSearch]:
        usage = self.engine.usage
        if usage is None:
            return []
        with self._lock:
            read_at, past = self._past
            if time.monotonic() - read_at < PAST_FRESH_S:
                return past
        try:
            past = usage.past_searches(k=PAST_SEARCHES)
        except GifSearchError:  # a usage file that can't be read: complete from phrases
            past = []
        with self._lock:
            self._past = (time.monotonic(), past)
        return past

    def wait(self, timeout_s: float) -> Derived | None:
        """Check now and wait up to timeout_s for a current Derived (for the CLI and tests)."""
        deadline = time.monotonic() + timeout_s
        self._marker = None  # look again even if the files look the same
        while True:
            self._poke(now=True)
            job = self._job
            if job is not None:
                job.join(max(0.0, deadline - time.monotonic()))
            if self._retry_at == float("inf") or time.monotonic() >= deadline:
                return self._held
            time.sleep(min(0.1, max(0.0, self._retry_at - time.monotonic())))

    def _store_marker(self) -> object:
        settings = self.engine.store.settings
        if settings.chroma_host:
            return int(time.monotonic() // self.server_check_s)
        return files_signature(settings)

    def _changed_at(self) -> float:
        """When the store last changed, as far as can be told here: its files' newest
        modification time (a server's: now)."""
        settings = self.engine.store.settings
        stamps = [] if settings.chroma_host else files_signature(settings)
        return max((s[0] / 1e9 for s in stamps if s is not None), default=time.time())

    def _poke(self, now: bool = False) -> None:
        with self._lock:
            if self._job is not None and self._job.is_alive():
                return
            if not now and time.monotonic() - self._checked_at < self.min_check_s:
                return
            marker = self._store_marker()
            if marker == self._marker and time.monotonic() < self._retry_at:
                return
            self._marker = marker
            self._checked_at = time.monotonic()
            self._retry_at = float("inf")
            self._job = threading.Thread(target=self._check, name="derived-check", daemon=True)
            self._job.start()

    def _check(self) -> None:
        """Make what is held current (see the module); a failure is kept in problem."""
        try:
            self.engine.refresh()
            store = self.engine.store
            signature = content_signature(store)
            if self._held is not None and self._held.signature == signature:
                return
            path = derived_path(store.settings)
            found, _ = load_derived(path) if path else (None, "")
            if found is not None and found.signature == signature:
                self._held = found
                return
            if self._unsettled[0] != signature:
                self._unsettled = (signature, self._changed_at())
            waited = time.time() - self._unsettled[1]
            if waited < self.settle_s:
                self._retry_at = time.monotonic() + self.settle_s - waited
                return
            self._build(store.settings, signature)
        except Exception as exc:  # a background job reports in one line, never a traceback
            self._fail(first_line(exc))

    def _build(self, settings: Settings, signature: str) -> None:
        with tempfile.TemporaryDirectory(prefix="gifsearch-derived-") as folder:
            out, error = Path(folder) / "derived.json", Path(folder) / "error.txt"
            context = multiprocessing.get_context("spawn")  # no copy of this process's threads
            child = context.Process(
                target=build_in_child, args=(settings, out, error, signature), daemon=True
            )
            child.start()
            child.join(BUILD_DEADLINE_S)
            if child.is_alive():
                child.kill()
                child.join()
                self._fail(f"building categories took over {BUILD_DEADLINE_S:.0f} s; stopped")
                return
            built, problem = load_derived(out)
            if built is None:
                reason = (
                    error.read_text(encoding="utf-8")[:MAX_ERROR_CHARS] if error.exists() else ""
                )
                self._fail(reason or problem or f"the build stopped (exit {child.exitcode})")
                return
        self._held = built
        self.problem = ""
        self.on_notice(keep_derived(settings, built))

    def _fail(self, problem: str) -> None:
        self.problem = f"categories and completions not built: {problem}"
        self.on_notice(self.problem)


_KEEPERS: weakref.WeakKeyDictionary[SearchEngine, DerivedKeeper] = weakref.WeakKeyDictionary()
_KEEPERS_LOCK = threading.Lock()


def keeper_for(engine: SearchEngine) -> DerivedKeeper:
    """The one DerivedKeeper of an engine (the page and the API share it: one copy of the
    phrases in memory, one build at a time)."""
    with _KEEPERS_LOCK:
        keeper = _KEEPERS.get(engine)
        if keeper is None:
            keeper = _KEEPERS[engine] = DerivedKeeper(engine)
        return keeper
