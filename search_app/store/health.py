"""When the embedded store fails: is the disk full, or which file is damaged? One line that
names the cause and the way out, instead of Chroma's traceback.

Chroma's errors don't say which file broke (one is a Rust panic), so a failure is read
again here: the disk's free space, the SQLite file (a regular file, its header, SQLite's
own quick check, read-only) and the vector index files of each segment. The vector
indexes' files are also checked before Chroma loads them, whole: hnswlib trusts them, so a
garbled count in header.bin, or a garbled neighbour list or entry point anywhere in
data_level0.bin or link_lists.bin, made Chroma crash the whole process (a segmentation
fault, no word said). The check reads every element's neighbour lists and vector (about
30 ms for 20,000 rows, in blocks: memory stays small). No chromadb here.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import sqlite3
import struct
import time
import uuid
from pathlib import Path

import numpy as np

SQLITE_FILE = "chroma.sqlite3"
SQLITE_HEADER = b"SQLite format 3\x00"
HNSW_FILES = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
# hnswlib's header.bin: version, level-0 offset, capacity, element count, bytes per
# element, label offset, data offset, max level, entry point, maxM, maxM0, M, mult, ef.
HNSW_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")
HNSW_VERSION = 1
LINK_COUNT_BYTES = 4  # a neighbour list: its count (uint16, then a deleted mark), then ids
MAX_NEIGHBOURS = 0xFFFF  # the count is 16 bits wide
MAX_LEVEL = 64  # levels grow as log(n) / log(M): a level past this is damage
LABEL_BYTES = 8
MAX_LABEL = 2**48  # Chroma numbers its labels from 1
MAX_VECTOR_NORM = 1e4  # embeddings' norms are ~1 (stored normalized) to ~30, never this
CHECK_BLOCK_ELEMENTS = 4_096  # elements of data_level0.bin read at a time
# Chroma's words for a vector index it could not load, or whose labels it can't map
INDEX_ERROR_WORDS = ("hnsw", "pickle", "segment reader", "error finding id")
RECENT_S = 10.0  # index files changed this recently may be mid-save by a writer
SETTLE_S = 2.0  # how long such files are given to settle before they are called damaged
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


def segment_dirs(store_dir: Path) -> list[Path]:
    """The vector index directories of an embedded store (Chroma names them by UUID)."""
    found = []
    for entry in sorted(store_dir.iterdir()) if store_dir.is_dir() else []:
        try:
            uuid.UUID(entry.name)
        except ValueError:
            continue
        if entry.is_dir() and not entry.is_symlink():
            found.append(entry)
    return found


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
        problem = _index_problem(segment)
        if problem:
            return problem
    if segments and any(word in error.lower() for word in INDEX_ERROR_WORDS):
        where = f"vector index {segments[0].name}/" if len(segments) == 1 else "vector indexes"
        reason = ": ".join(error.splitlines()[0].split(": ")[-2:])[:100]  # Chroma's innermost
        return f"its {where} can't be loaded ({reason})"
    return None


def _index_problem(segment: Path) -> str | None:
    """What is wrong with one vector index directory's files (hnswlib's layout), or None."""
    present = [name for name in HNSW_FILES if (segment / name).exists()]
    if not present:
        return None  # an index not saved yet: Chroma rebuilds it from its log
    index = f"its vector index {segment.name}/"
    if len(present) < len(HNSW_FILES):
        missing = next(name for name in HNSW_FILES if name not in present)
        return f"{index} is missing {missing}"
    try:
        header = (segment / "header.bin").read_bytes()[: HNSW_HEADER.size + 1]
        sizes = {name: (segment / name).stat().st_size for name in HNSW_FILES}
    except OSError as exc:
        return f"{index} can't be read ({exc.strerror or exc})"
    if len(header) != HNSW_HEADER.size:
        return f"{index}header.bin is damaged (not {HNSW_HEADER.size} bytes)"
    layout = HnswLayout(*HNSW_HEADER.unpack(header))
    if layout.version != HNSW_VERSION:
        return None  # a layout this check doesn't know: leave the judgement to Chroma
    if not layout.is_sane():
        return f"{index}header.bin is damaged (garbled)"
    count = layout.count
    if sizes["data_level0.bin"] < count * layout.element_bytes or sizes["length.bin"] < count * 4:
        return f"{index} is damaged (its files are shorter than header.bin says)"
    try:
        problem = _level0_problem(segment / "data_level0.bin", layout) or _upper_problem(
            segment / "link_lists.bin", layout
        )
    except OSError as exc:
        return f"{index} can't be read ({exc.strerror or exc})"
    return f"{index}{problem}" if problem else None


class HnswLayout:
    """hnswlib's header.bin, and the layout of each element it implies."""

    def __init__(self, *fields: float) -> None:
        (
            self.version,
            self.level0_offset,
            self.capacity,
            self.count,
            self.element_bytes,
            self.label_offset,
            self.data_offset,
            self.max_level,
            self.entry_point,
            self.max_m,
            self.max_m0,
            self.m,
        ) = (int(value) for value in fields[:12])
        self.mult = float(fields[12])

    def is_sane(self) -> bool:
        """Whether the header's numbers fit together (hnswlib never checks them)."""
        return (
            self.level0_offset == 0
            and 0 <= self.count <= self.capacity
            and 1 <= self.max_m <= self.max_m0 <= MAX_NEIGHBOURS
            and self.data_offset == LINK_COUNT_BYTES * (1 + self.max_m0)
            and self.data_offset < self.label_offset
            and (self.label_offset - self.data_offset) % 4 == 0
            and self.element_bytes == self.label_offset + LABEL_BYTES
            and -1 <= self.max_level <= MAX_LEVEL  # -1 and no entry point: empty
            and (self.count == 0 or (self.max_level >= 0 and self.entry_point < self.count))
            and math.isfinite(self.mult)
        )


def _level0_problem(path: Path, layout: HnswLayout) -> str | None:
    """What is wrong in data_level0.bin: a neighbour count over the maximum, a neighbour
    that is no element, a vector not finite or of absurd length, a garbled label."""
    count = layout.count
    if count == 0:
        return None
    data = np.memmap(path, dtype=np.uint8, mode="r", shape=(count, layout.element_bytes))
    try:
        for start in range(0, count, CHECK_BLOCK_ELEMENTS):
            block = data[start : start + CHECK_BLOCK_ELEMENTS]
            links = block[:, : layout.data_offset].view("<u4")
            neighbours = links[:, 0] & MAX_NEIGHBOURS
            if (neighbours > layout.max_m0).any() or ((links[:, 0] >> 16) > 1).any():
                return "data_level0.bin is damaged (a neighbour count is garbled)"
            used = np.arange(layout.max_m0)[None, :] < neighbours[:, None]
            if (links[:, 1:][used] >= count).any():
                return "data_level0.bin is damaged (a neighbour is no element)"
            vectors = block[:, layout.data_offset : layout.label_offset].view("<f4")
            with np.errstate(all="ignore"):  # garbage overflows to inf: caught below
                squares = np.einsum("ij,ij->i", vectors, vectors)
            if not (squares <= MAX_VECTOR_NORM**2).all():  # False for nan and inf too
                return "data_level0.bin is damaged (a vector is garbled)"
            labels = block[:, layout.label_offset :].view("<u8")
            if (labels > MAX_LABEL).any():
                return "data_level0.bin is damaged (a label is garbled)"
    finally:
        del data
    return None


def _upper_problem(path: Path, layout: HnswLayout) -> str | None:
    """What is wrong in link_lists.bin: per element, its size (4 bytes) then its upper
    levels' neighbour lists; a size, level, count or neighbour out of bounds, or an entry
    point on another level than header.bin's top one."""
    blob = path.read_bytes()
    list_bytes = LINK_COUNT_BYTES * (1 + layout.max_m)
    read_size = struct.Struct("<I").unpack_from
    starts: list[int] = []  # where each upper level's neighbour list starts
    at = 0
    for element in range(layout.count):
        if at + 4 > len(blob):
            return "link_lists.bin is damaged (shorter than its elements)"
        size = read_size(blob, at)[0]
        at += 4
        levels, rest = divmod(size, list_bytes)
        if rest or levels > layout.max_level or at + size > len(blob):
            return "link_lists.bin is damaged (a level's size is garbled)"
        if element == layout.entry_point and levels != layout.max_level:
            return "header.bin is damaged (its top level is not its entry point's)"
        starts.extend(range(at, at + size, list_bytes))
        at += size
    if not starts:
        return None
    words = np.frombuffer(blob, dtype=np.uint8, count=at)
    offsets = np.asarray(starts)[:, None] + np.arange(list_bytes)[None, :]
    lists = words[offsets].view("<u4")  # one row per list: its count, then its neighbours
    neighbours = lists[:, 0] & MAX_NEIGHBOURS
    if (neighbours > layout.max_m).any():
        return "link_lists.bin is damaged (a neighbour count is garbled)"
    used = np.arange(layout.max_m)[None, :] < neighbours[:, None]
    if (lists[:, 1:][used] >= layout.count).any():
        return "link_lists.bin is damaged (a neighbour is no element)"
    return None


def index_problem(store_dir: Path) -> str | None:
    """Check the saved vector indexes before Chroma loads them (a garbled header.bin made
    it crash the process); return the first problem, or None.

    An index being saved by a writer right now may look short for a moment, so a problem
    in files changed in the last few seconds is looked at again before it is reported.
    """
    deadline = time.monotonic() + SETTLE_S
    while True:
        found = [(d, p) for d in segment_dirs(store_dir) if (p := _index_problem(d))]
        if not found:
            return None
        segment, problem = found[0]
        if time.monotonic() >= deadline or not _recently_changed(segment):
            return problem
        time.sleep(SETTLE_S / 4)


def _recently_changed(segment: Path) -> bool:
    try:
        newest = max(p.stat().st_mtime for p in segment.iterdir())
    except (OSError, ValueError):
        return False
    return time.time() - newest < RECENT_S


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
