"""What people did with a collection, kept on this machine: the GIFs they shared (sent or
copied) for a query, and the queries they searched. Nothing of it is sent anywhere.

A SQLite file (Python's own sqlite3): beside an embedded store, STORE/gifsearch-usage.sqlite3
(not in Chroma: a share is written on every click, and Chroma's collections are for
vectors that are searched, whose write path is an HNSW insert; and a rebuild, which drops
the collection, must not forget what people shared); for a Chroma server, the cache
directory (the server's machine may be someone else's). Rows are per collection, bounded
(the oldest go first), and survive restarts and re-ingests. `gifsearch usage --clear`
deletes them.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search_app.errors import StoreUnavailableError, first_line
from search_app.settings import Settings

USAGE_FILE = "gifsearch-usage.sqlite3"
MAX_SHARES = 10_000  # per collection: the oldest go first
MAX_SEARCHES = 20_000
MAX_QUERY_CHARS = 200  # of a recorded query
HALF_LIFE_DAYS = 7.0  # a share counts half as much a week later (trending)
DAY_S = 86_400.0
# Trimmed every this many records of a process (a trim reads the table's newest ids: a
# fraction of a millisecond a record so, where a trim on every record cost 19 ms at 20,000
# searches); a table holds at most this many rows beyond its bound.
TRIM_EVERY = 256
# WAL with synchronous=NORMAL: a record is one write, no fsync per search (a crash may lose
# the last few records; the file stays whole).
PRAGMAS = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
SCHEMA = """
CREATE TABLE IF NOT EXISTS shares (
    id INTEGER PRIMARY KEY, collection TEXT NOT NULL, gif_id TEXT NOT NULL,
    query TEXT NOT NULL, vector BLOB, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS shares_by_collection ON shares (collection, at);
CREATE INDEX IF NOT EXISTS shares_by_collection_id ON shares (collection, id);
CREATE TABLE IF NOT EXISTS searches (
    id INTEGER PRIMARY KEY, collection TEXT NOT NULL, query TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS searches_by_collection ON searches (collection, at);
CREATE INDEX IF NOT EXISTS searches_by_collection_id ON searches (collection, id);
"""
SERVER_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class PastSearch:
    """A query searched before: how often, and when last (seconds since the epoch)."""

    query: str
    count: int
    last_at: float


@dataclass(frozen=True)
class ShareMemory:
    """The shares of a collection as vectors, for the ranking's bounded boost: each share's
    GIF id and its query's unit vector (one row each)."""

    gif_ids: tuple[str, ...]
    vectors: np.ndarray

    def closeness(self, query: np.ndarray, floor: float) -> dict[str, float]:
        """Each shared GIF's highest cosine between query and a query it was shared for,
        for the GIFs where that is at least floor."""
        if not self.gif_ids:
            return {}
        cosines = self.vectors @ np.asarray(query, dtype=np.float32)
        found: dict[str, float] = {}
        for gif_id, cosine in zip(self.gif_ids, cosines.tolist(), strict=True):
            if cosine >= floor and cosine > found.get(gif_id, -1.0):
                found[gif_id] = cosine
        return found


def usage_path(settings: Settings) -> Path:
    """Where a collection's usage is kept (see the module)."""
    if settings.chroma_host:
        server = SERVER_NAME.sub("_", f"{settings.chroma_host}_{settings.chroma_port}")
        return settings.cache_dir / "usage" / f"{server}.sqlite3"
    return settings.store_dir / USAGE_FILE


class UsageLog:
    """One collection's shares and searches in the usage file (thread-safe). Opened lazily:
    a reader that never records or reads usage never touches the file."""

    def __init__(self, path: Path, collection: str, now: Callable[[], float] = time.time) -> None:
        self.path = path
        self.collection = collection
        self._now = now
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._memory: ShareMemory | None = None  # the shares as vectors, until one is added
        self._records = {"shares": 0, "searches": 0}  # by this log, per table (TRIM_EVERY)

    @classmethod
    def for_settings(cls, settings: Settings) -> UsageLog:
        """The usage of the settings' collection."""
        return cls(usage_path(settings), settings.collection)

    def _db(self, create: bool) -> sqlite3.Connection | None:
        """The open database; None when there is none yet and create is False."""
        if self._connection is None:
            if not create and not self.path.is_file():
                return None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self.path, check_same_thread=False, timeout=5)
                connection.executescript(PRAGMAS + SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise StoreUnavailableError(
                    f"can't keep usage in {self.path} ({first_line(exc)}); searching still works"
                ) from None
            self._connection = connection
        return self._connection

    def _time(self) -> float:
        return float(self._now())

    def record_share(self, gif_id: str, query: str, vector: np.ndarray | None) -> None:
        """Record that gif_id was shared for query (vector: the query's, when it has one)."""
        blob = None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()
        with self._lock:
            db = self._db(create=True)
            assert db is not None
            with db:
                db.execute(
                    "INSERT INTO shares (collection, gif_id, query, vector, at) VALUES (?,?,?,?,?)",
                    (self.collection, gif_id, query[:MAX_QUERY_CHARS], blob, self._time()),
                )
                self._trim(db, "shares", MAX_SHARES)
            self._memory = None

    def record_search(self, query: str) -> None:
        """Record that query was searched."""
        if not query.strip():
            return
        with self._lock:
            db = self._db(create=True)
            assert db is not None
            with db:
                db.execute(
                    "INSERT INTO searches (collection, query, at) VALUES (?,?,?)",
                    (self.collection, query.strip()[:MAX_QUERY_CHARS], self._time()),
                )
                self._trim(db, "searches", MAX_SEARCHES)

    def _trim(self, db: sqlite3.Connection, table: str, keep: int) -> None:
        """Delete the collection's oldest rows of table beyond keep (every TRIM_EVERY
        records, and on the first: a file another process filled)."""
        self._records[table] += 1
        if self._records[table] % TRIM_EVERY != 1:
            return
        db.execute(
            # table is one of two fixed names, never input
            f"DELETE FROM {table} WHERE collection = ? AND id <= "
            f"(SELECT id FROM {table} WHERE collection = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (self.collection, self.collection, keep),
        )

    def memory(self) -> ShareMemory:
        """The shares that carry a query vector, for the ranking (kept until one is added)."""
        with self._lock:
            if self._memory is None:
                db = self._db(create=False)
                rows = [] if db is None else db.execute(
                    "SELECT gif_id, vector FROM shares WHERE collection = ? AND vector IS NOT NULL",
                    (self.collection,),
                ).fetchall()  # fmt: skip
                vectors = [np.frombuffer(blob, dtype=np.float32) for _, blob in rows]
                sizes = {len(v) for v in vectors}
                if len(sizes) > 1:  # another model's vectors: the collection was rebuilt
                    common = max(sizes, key=[len(v) for v in vectors].count)
                    keep = [i for i, v in enumerate(vectors) if len(v) == common]
                    rows, vectors = [rows[i] for i in keep], [vectors[i] for i in keep]
                matrix = np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
                self._memory = ShareMemory(tuple(gif for gif, _ in rows), matrix)
            return self._memory

    def recent_shares(self, k: int) -> list[str]:
        """The k GIFs shared most recently, latest first, each once."""
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return []
            rows = db.execute(
                "SELECT gif_id, MAX(at) AS last FROM shares WHERE collection = ? "
                "GROUP BY gif_id ORDER BY last DESC, gif_id LIMIT ?",
                (self.collection, k),
            ).fetchall()
        return [gif_id for gif_id, _ in rows]

    def trending(self, half_life_days: float = HALF_LIFE_DAYS) -> list[tuple[str, float]]:
        """Every shared GIF with its shares decayed by age (a share half_life_days old counts
        half), most shared first; ties by the GIF id."""
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return []
            rows = db.execute(
                "SELECT gif_id, at FROM shares WHERE collection = ?", (self.collection,)
            ).fetchall()
        now = self._time()
        weights: dict[str, float] = {}
        for gif_id, at in rows:
            age_days = max(0.0, now - at) / DAY_S
            weights[gif_id] = weights.get(gif_id, 0.0) + math.pow(0.5, age_days / half_life_days)
        return sorted(weights.items(), key=lambda item: (-item[1], item[0]))

    def past_searches(self, since_days: float | None = None, k: int = 1_000) -> list[PastSearch]:
        """Queries searched (within since_days, when given), most often first."""
        since = 0.0 if since_days is None else self._time() - since_days * DAY_S
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return []
            rows = db.execute(
                "SELECT query, COUNT(*) AS n, MAX(at) AS last FROM searches "
                "WHERE collection = ? AND at >= ? GROUP BY lower(query) "
                "ORDER BY n DESC, last DESC, query LIMIT ?",
                (self.collection, since, k),
            ).fetchall()
        return [PastSearch(query, count, last) for query, count, last in rows]

    def counts(self) -> tuple[int, int]:
        """(shares, searches) recorded for the collection."""
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return 0, 0
            shares = db.execute(
                "SELECT COUNT(*) FROM shares WHERE collection = ?", (self.collection,)
            ).fetchone()[0]
            searches = db.execute(
                "SELECT COUNT(*) FROM searches WHERE collection = ?", (self.collection,)
            ).fetchone()[0]
        return int(shares), int(searches)

    def clear(self) -> tuple[int, int]:
        """Delete the collection's shares and searches; return how many there were."""
        counts = self.counts()
        with self._lock:
            db = self._db(create=False)
            if db is not None:
                with db:
                    db.execute("DELETE FROM shares WHERE collection = ?", (self.collection,))
                    db.execute("DELETE FROM searches WHERE collection = ?", (self.collection,))
                db.execute("VACUUM")  # what was deleted is gone from the file too
            self._memory = None
        return counts
