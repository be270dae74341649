"""The saved vector indexes' files (hnswlib's layout, in one directory per segment of an
embedded store), checked whole before Chroma loads them.

hnswlib trusts its files: a garbled count in header.bin, or a garbled neighbour list or
entry point anywhere in data_level0.bin or link_lists.bin, made Chroma crash the whole
process (a segmentation fault, no word said). So header.bin's fields must agree, every
element's neighbour counts and ids must be in range, its vector finite and of sane length,
its label plausible, and the entry point on the top level. Every element is read (about
30 ms for 20,000 rows), in blocks, so memory stays small. No chromadb here.
"""

from __future__ import annotations

import bisect
import math
import struct
import time
import uuid
from pathlib import Path

import numpy as np

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
RECENT_S = 10.0  # index files changed this recently may be mid-save by a writer
SETTLE_S = 2.0  # how long such files are given to settle before they are called damaged


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


# Segments this process found sound, by their files' (inode, size, mtime, ctime): a store
# is reopened after every commit another process makes (client.py), and reading the whole
# index again each time (0.6 s at a million rows) is needless while its files are as they
# were. Only files unchanged for RECENT_S are remembered, so a later write, whatever the
# file system's timestamp granularity, shows as a new mtime.
_SOUND: dict[Path, tuple[tuple[int, int, int, int], ...]] = {}


def _files_signature(segment: Path) -> tuple[tuple[int, int, int, int], ...] | None:
    try:
        stats = [(segment / name).stat() for name in HNSW_FILES]
    except OSError:
        return None
    return tuple((s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns) for s in stats)


def index_files_problem(segment: Path) -> str | None:
    """Return what is wrong with one vector index directory's files, or None (files this
    process found sound and that haven't changed since are not read again)."""
    signature = _files_signature(segment)
    if signature is not None and _SOUND.get(segment) == signature:
        return None
    problem = _read_problem(segment)
    settled = time.time_ns() - RECENT_S * 1e9
    if problem is None and signature is not None and max(s[2] for s in signature) < settled:
        _SOUND[segment] = signature
    return problem


def _read_problem(segment: Path) -> str | None:
    """What is wrong with one vector index directory's files, read whole, or None."""
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
    point on another level than header.bin's top one.

    Most elements have no upper level (size 0): a run of them is stepped over at once (to
    the next nonzero word), so the walk takes a step per element that has upper levels
    (0.15 s instead of 0.42 s at 1,000,000 rows)."""
    blob = path.read_bytes()
    list_bytes = LINK_COUNT_BYTES * (1 + layout.max_m)
    sizes = np.frombuffer(blob, dtype="<u4", count=len(blob) // 4)
    nonzero = np.flatnonzero(sizes).tolist()  # word positions of a nonzero word
    starts: list[int] = []  # where each upper level's neighbour list starts (bytes)
    word = element = 0
    while element < layout.count:
        found = bisect.bisect_left(nonzero, word)
        run = min(
            (nonzero[found] if found < len(nonzero) else len(sizes)) - word, layout.count - element
        )
        if run:  # elements of level 0 only, one zero word each
            if element <= layout.entry_point < element + run and layout.max_level != 0:
                return "header.bin is damaged (its top level is not its entry point's)"
            element, word = element + run, word + run
            continue
        if word >= len(sizes):
            return "link_lists.bin is damaged (shorter than its elements)"
        size, at = int(sizes[word]), 4 * word + 4
        levels, rest = divmod(size, list_bytes)
        if rest or levels > layout.max_level or at + size > len(blob):
            return "link_lists.bin is damaged (a level's size is garbled)"
        if element == layout.entry_point and levels != layout.max_level:
            return "header.bin is damaged (its top level is not its entry point's)"
        starts.extend(range(at, at + size, list_bytes))
        element, word = element + 1, word + 1 + size // 4
    at = 4 * word
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
        found = [(d, p) for d in segment_dirs(store_dir) if (p := index_files_problem(d))]
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
