"""When the embedded store fails: is the disk full, or which file is damaged? One line that
names the cause and the way out, instead of Chroma's traceback.

Chroma's errors don't say which file broke (one is a Rust panic), so a failure is read
again here: the disk's free space, the SQLite file (a regular file, its header, SQLite's
own quick check, read-only) and the vector index files of each segment
(search_app/store/index_files.py, which also checks them before Chroma loads them). No
chromadb here.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import time
from pathlib import Path

from search_app.store.index_files import index_files_problem, segment_dirs

SQLITE_FILE = "chroma.sqlite3"
SQLITE_HEADER = b"SQLite format 3\x00"
# Chroma's words for a vector index it could not load, or whose labels it can't map
INDEX_ERROR_WORDS = ("hnsw", "pickle", "segment reader", "error finding id")
DISK_FULL_WORDS = ("database or disk is full", "no space left", "disk full", "enospc")
# What a description row costs on disk (SQLite row, log and vector index): measured
# ~3.0 KB at 384 dimensions (docs/results.md); this is that with headroom, per dimension.
BYTES_PER_DIMENSION_ROW = 8
BYTES_PER_ROW_OVERHEAD = 1_000
FREE_SPACE_RESERVE_BYTES = 16 * 1024 * 1024  # Chroma's compaction writes beside the data
DAMAGED_PREFIX = "damaged-"  # set_aside's folders: damaged-YYYYmmdd-HHMMSS
RECOVERY = (
    'recover with "gifsearch ingest --rebuild" (it re-reads the source) or use a fresh --store'
)


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error (or one it was raised from) says the disk is full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if any(word in str(seen).lower() for word in DISK_FULL_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def free_bytes(path: Path) -> int:
    """Free bytes on the disk that holds path (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def row_bytes(dimension: int) -> int:
    """The disk a stored row may take, with headroom."""
    return BYTES_PER_DIMENSION_ROW * dimension + BYTES_PER_ROW_OVERHEAD


def space_problem(store_dir: Path, rows: int, dimension: int) -> str | None:
    """Return why rows more rows won't fit on the store's disk (named, in MB), or None."""
    need = rows * row_bytes(dimension) + FREE_SPACE_RESERVE_BYTES
    free = free_bytes(store_dir)
    if free >= need:
        return None
    return (
        f"no space left on the disk of {store_dir} for {rows:,} more rows: "
        f"{free / 1e6:.1f} MB free, about {need / 1e6:.1f} MB needed with room for Chroma's "
        "upkeep; free some space or use --store on a larger disk, then run it again (the "
        "rows stored so far are kept)"
    )


def disk_full_message(store_dir: Path) -> str:
    """The one line for a write that ran out of space."""
    return (
        f"no space left on the disk of {store_dir} ({free_bytes(store_dir) / 1e6:.1f} MB "
        "free): free some space and run the command again (the rows stored so far are kept)"
    )


def read_only_problem(store_dir: Path) -> str | None:
    """Return why this process can't write an embedded store's folder or database (a
    read-only file system, no permission), or None. Chroma writes to its database even
    to open it for a search, so such a store can't be opened at all."""
    for path in (store_dir, store_dir / SQLITE_FILE):
        if path.exists() and not os.access(path, os.W_OK):  # EROFS counts, even for root
            try:
                read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
            except OSError:
                read_only = False
            why = "it is on a read-only file system" if read_only else f"{path.name} is read-only"
            return (
                f"the store in {store_dir} can't be opened: {why}, and Chroma writes to its "
                "database even to search it; copy it somewhere writable (cp -a STORE "
                "/tmp/gifsearch-store) and use --store /tmp/gifsearch-store, or make it writable"
            )
    return None


def has_store_files(store_dir: Path) -> bool:
    """Whether a directory holds anything of a Chroma store (its database or an index)."""
    names = (SQLITE_FILE, SQLITE_FILE + "-wal", SQLITE_FILE + "-journal")
    return any((store_dir / name).exists() for name in names) or bool(segment_dirs(store_dir))


def damaged_file(store_dir: Path, error: str = "") -> str | None:
    """Return which file of an embedded store is damaged, and how, or None when its files
    look whole (the failure is something else). error is Chroma's message, if any: a
    vector index it could not load is named even when its files look whole."""
    database = store_dir / SQLITE_FILE
    if not store_dir.is_dir():
        return "it is not a directory"
    if not database.exists():
        return f"its {SQLITE_FILE} is missing"
    if not database.is_file() or database.is_symlink():
        return f"its {SQLITE_FILE} is not a regular file"
    try:
        with database.open("rb") as stream:
            header = stream.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"its {SQLITE_FILE} can't be read ({exc.strerror or exc})"
    if header != SQLITE_HEADER:
        return f"its {SQLITE_FILE} is not an SQLite database (the header is damaged)"
    problem = _quick_check(database)
    if problem:
        return f"its {SQLITE_FILE} is damaged ({problem})"
    segments = segment_dirs(store_dir)
    for segment in segments:
        problem = index_files_problem(segment)
        if problem:
            return problem
    if segments and any(word in error.lower() for word in INDEX_ERROR_WORDS):
        where = f"vector index {segments[0].name}/" if len(segments) == 1 else "vector indexes"
        reason = ": ".join(error.splitlines()[0].split(": ")[-2:])[:100]  # Chroma's innermost
        return f"its {where} can't be loaded ({reason})"
    return None


def _quick_check(database: Path) -> str | None:
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        try:
            result = connection.execute("PRAGMA quick_check(1)").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        return str(exc).splitlines()[0] or type(exc).__name__
    if result is None or result[0] != "ok":
        lines = str(result[0] if result else "quick_check gave nothing").splitlines()
        return "; ".join(line for line in lines if not line.startswith("***"))[:120]
    return None


def damaged_message(store_dir: Path, problem: str) -> str:
    """The one line for a damaged store; problem names the file ("its chroma.sqlite3 …")."""
    return f"the store in {store_dir} is damaged: {problem}; {RECOVERY}"


def set_aside(store_dir: Path) -> Path:
    """Move a damaged store's files (database and vector indexes) into a new folder inside
    it, so the store can be made anew without deleting anything; return that folder."""
    aside = store_dir / time.strftime(f"{DAMAGED_PREFIX}%Y%m%d-%H%M%S")
    suffix = 1
    while aside.exists():
        aside = aside.with_name(f"{aside.name.split('.')[0]}.{suffix}")
        suffix += 1
    aside.mkdir()
    names = (SQLITE_FILE, SQLITE_FILE + "-wal", SQLITE_FILE + "-shm", SQLITE_FILE + "-journal")
    moving = [store_dir / name for name in names if (store_dir / name).exists()]
    for path in [*moving, *segment_dirs(store_dir)]:
        path.rename(aside / path.name)
    return aside
