"""When the embedded store fails: is the disk full, or which file is damaged? One line that
names the cause and the way out, instead of Chroma's traceback.

Chroma's errors don't say which file broke (one is a Rust panic), so a failure is read
again here: the disk's free space, the SQLite file (a regular file, its header, SQLite's
own quick check, read-only) and the vector index files of each segment. No chromadb here.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

SQLITE_FILE = "chroma.sqlite3"
SQLITE_HEADER = b"SQLite format 3\x00"
HNSW_FILES = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
DISK_FULL_WORDS = ("database or disk is full", "no space left", "disk full", "enospc")
# What a description row costs on disk (SQLite row, log and vector index): measured
# ~3.0 KB at 384 dimensions (docs/results.md); this is that with headroom, per dimension.
BYTES_PER_DIMENSION_ROW = 8
BYTES_PER_ROW_OVERHEAD = 1_000
FREE_SPACE_RESERVE_BYTES = 16 * 1024 * 1024  # Chroma's compaction writes beside the data
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
        f"{free / 1e6:.1f} MB free, about {need / 1e6:.1f} MB needed; free some space or "
        "use --store on a larger disk (nothing of this batch was written)"
    )


def disk_full_message(store_dir: Path) -> str:
    """The one line for a write that ran out of space."""
    return (
        f"no space left on the disk of {store_dir} ({free_bytes(store_dir) / 1e6:.1f} MB "
        "free): free some space and run the command again (the rows written before are kept)"
    )


def damaged_file(store_dir: Path) -> str | None:
    """Return which file of an embedded store is damaged, and how, or None when its files
    look whole (the failure is something else)."""
    database = store_dir / SQLITE_FILE
    if not store_dir.is_dir():
        return f"{store_dir} is not a directory"
    if not database.exists():
        return f"{database} is missing"
    if not database.is_file():
        return f"{database} is not a file"
    try:
        with database.open("rb") as stream:
            header = stream.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{database} can't be read ({exc.strerror or exc})"
    if header != SQLITE_HEADER:
        return f"{database} is not an SQLite database (its header is damaged)"
    problem = _quick_check(database)
    if problem:
        return f"{database} is damaged ({problem})"
    for segment in sorted(p for p in store_dir.iterdir() if p.is_dir()):
        present = [name for name in HNSW_FILES if (segment / name).exists()]
        if present and len(present) < len(HNSW_FILES):
            missing = next(name for name in HNSW_FILES if name not in present)
            return f"the vector index in {segment} is missing {missing}"
        header_file = segment / "header.bin"
        if header_file.exists() and header_file.stat().st_size == 0:
            return f"the vector index file {header_file} is empty"
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
        return str(result[0] if result else "quick_check gave nothing")[:120]
    return None


def damaged_message(store_dir: Path, problem: str) -> str:
    """The one line for a damaged store."""
    return f"the store in {store_dir} is damaged: {problem}; {RECOVERY}"
