"""The reader: streams a TGIF-format file (URL<TAB>description) into clean, sampled rows."""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from search_app.records import GifRecord

MAX_LINE_BYTES = 64 * 1024  # a longer line is read past in pieces and counted as too long
MAX_URL_CHARS = 2_048
MAX_DESCRIPTION_CHARS = 1_000
URL_FORBIDDEN_CHARS = frozenset('"<>\\^`{|}')  # never valid unescaped in a URL (RFC 3986)
DEFAULT_LIMIT_ROWS = 20_000
DEFAULT_SEED = 0

# Reasons a row is dropped, in the order the summary prints them.
DROP_REASONS = (
    "wrong_columns",
    "bad_url",
    "empty_description",
    "undecodable",
    "control_chars",
    "too_long",
    "duplicate",
)

BadLineHandler = Callable[[int, str], None]


@dataclass
class ReadSummary:
    """Counts of what the reader saw: rows read, kept, dropped by reason, sampled out."""

    rows_read: int = 0
    kept: int = 0
    sampled_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    @property
    def dropped_total(self) -> int:
        """Rows dropped for any reason."""
        return sum(self.dropped.values())


def normalize_text(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def is_web_url(url: str) -> bool:
    """Return whether url is an absolute http(s) URL with a host and no unsafe characters."""
    if any(char in URL_FORBIDDEN_CHARS or ord(char) < 0x21 for char in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def clean_line(raw: bytes) -> tuple[str, str] | str:
    """Return (url, description) for a good line, else the drop reason."""
    if len(raw) > MAX_LINE_BYTES:
        return "too_long"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "undecodable"
    line = line.lstrip("\ufeff").rstrip("\r\n")
    if "\x00" in line:
        return "control_chars"
    columns = line.split("\t")
    if len(columns) != 2:
        return "wrong_columns"
    url, description = columns[0].strip(), normalize_text(columns[1])
    if not is_web_url(url):
        return "bad_url"
    if not description:
        return "empty_description"
    if len(url) > MAX_URL_CHARS or len(description) > MAX_DESCRIPTION_CHARS:
        return "too_long"
    return url, description


def iter_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Yield lines, cutting any line over MAX_LINE_BYTES short (its rest is skipped)."""
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:  # read past the rest of the over-long line without keeping it
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
        if not line.strip():
            continue  # blank lines are not rows
        yield line


def iter_records(
    stream: BinaryIO,
    source: str,
    summary: ReadSummary,
    on_bad_line: BadLineHandler | None = None,
    seen: set[str] | None = None,
) -> Iterator[GifRecord]:
    """Yield the good rows of a stream once each, counting every dropped row by reason.

    seen holds the row ids already yielded (pass one set to read several streams as one).
    """
    seen = set() if seen is None else seen
    for line_no, raw in enumerate(iter_lines(stream), start=1):
        summary.rows_read += 1
        cleaned = clean_line(raw)
        if isinstance(cleaned, str):
            reason = cleaned
        else:
            record = GifRecord(url=cleaned[0], description=cleaned[1], source=source)
            if record.row_id not in seen:
                seen.add(record.row_id)
                summary.kept += 1
                yield record
                continue
            reason = "duplicate"
        summary.dropped[reason] += 1
        if on_bad_line:
            on_bad_line(line_no, reason)


def seeded_hash(text: str, seed: int) -> bytes:
    """Return text's 8-byte blake2b digest salted with seed: the order samples are cut in."""
    salt = seed.to_bytes(8, "little", signed=True)
    return hashlib.blake2b(text.encode(), digest_size=8, salt=salt).digest()


def sample_key(record: GifRecord, seed: int) -> tuple[int, int]:
    """Seeded sort key: GIFs in hash order, a GIF's descriptions together."""
    gif, row = seeded_hash(record.gif_id, seed), seeded_hash(record.row_id, seed)
    return int.from_bytes(gif, "big"), int.from_bytes(row, "big")


def sample_records(
    records: Iterator[GifRecord], limit: int | None, seed: int, summary: ReadSummary
) -> list[GifRecord]:
    """Keep `limit` rows by a seeded bottom-k hash sample, in a stable order.

    The sample is deterministic, streams in O(limit) memory, keeps a GIF's descriptions
    together, and is stable when the set grows: a row in the sample of a set stays in the
    sample of a grown set unless a new row outranks it.
    """
    if limit is None:
        kept = list(records)
        return sorted(kept, key=lambda r: sample_key(r, seed))
    heap: list[tuple[tuple[int, int], int, GifRecord]] = []
    for index, record in enumerate(records):
        key = sample_key(record, seed)
        negated = (-key[0], -key[1])
        item = (negated, index, record)
        if len(heap) < limit:
            heapq.heappush(heap, item)
        elif negated > heap[0][0]:
            heapq.heapreplace(heap, item)
    summary.sampled_out = summary.kept - len(heap)
    return [record for _, _, record in sorted(heap, key=lambda item: item[0], reverse=True)]


def read_rows(
    path: Path,
    source: str,
    limit: int | None = DEFAULT_LIMIT_ROWS,
    seed: int = DEFAULT_SEED,
    on_bad_line: BadLineHandler | None = None,
) -> tuple[list[GifRecord], ReadSummary]:
    """Read, clean, de-duplicate and sample a TGIF-format file."""
    return read_many([(path, source)], limit, seed, on_bad_line)


def read_many(
    files: Sequence[tuple[Path, str]],
    limit: int | None = DEFAULT_LIMIT_ROWS,
    seed: int = DEFAULT_SEED,
    on_bad_line: BadLineHandler | None = None,
) -> tuple[list[GifRecord], ReadSummary]:
    """Read several TGIF-format files (path, source label) as one set: cleaned,
    de-duplicated across files, and sampled together."""
    summary = ReadSummary()
    seen: set[str] = set()

    def records() -> Iterator[GifRecord]:
        for path, source in files:
            with path.open("rb") as stream:
                yield from iter_records(stream, source, summary, on_bad_line, seen)

    return sample_records(records(), limit, seed, summary), summary
