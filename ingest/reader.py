"""The reader: streams a TGIF-format file (URL<TAB>description) into clean, sampled rows."""

from __future__ import annotations

import hashlib
import heapq
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from search_app.records import GifRecord

MAX_LINE_BYTES = 64 * 1024  # a longer line is read past in pieces and counted as too long
MAX_URL_CHARS = 2_048
MAX_DESCRIPTION_CHARS = 1_000
# C0 controls but tab, newline and carriage return; DEL; C1 controls. A regex: every line
# of a source is checked, and a per-character loop cost 16 us a row against 1 us.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
URL_FORBIDDEN_CHARS = frozenset('"<>\\^`{|}')  # never valid unescaped in a URL (RFC 3986)
BLANK_SYMBOLS = frozenset("\u2800\u3164\uffa0\u115f\u1160")  # braille/Hangul fillers
DEFAULT_LIMIT_ROWS = 20_000
DEFAULT_SEED = 0

# Reasons a row is dropped, in the order the summary prints them.
DROP_REASONS = (
    "wrong_columns",
    "missing_field",
    "bad_json",
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


def has_control_chars(text: str) -> bool:
    """Whether text holds a C0 or C1 control character or DEL (tabs and newlines aside:
    they are whitespace here), which a terminal or a log could act on."""
    return CONTROL_CHARS.search(text) is not None


def is_blank(text: str) -> bool:
    """Whether text shows nothing: only whitespace, format characters (zero-width space,
    joiners, BOM, bidi marks) and blank symbols such as the braille blank U+2800."""
    return all(
        char.isspace() or unicodedata.category(char) in ("Cf", "Zs") or char in BLANK_SYMBOLS
        for char in text
    )


def clean_pair(url: str, text: str) -> tuple[str, str] | str:
    """Return (url, description) cleaned, else the drop reason (one of DROP_REASONS)."""
    if has_control_chars(url) or has_control_chars(text):
        return "control_chars"
    url, description = url.strip(), normalize_text(text)
    if not is_web_url(url):
        return "bad_url"
    if not description or is_blank(description):
        return "empty_description"
    if len(url) > MAX_URL_CHARS or len(description) > MAX_DESCRIPTION_CHARS:
        return "too_long"
    return url, description


def decode_line(raw: bytes) -> str | None:
    """Return a line's text without its BOM and line end, or None when it isn't UTF-8."""
    try:
        return raw.decode("utf-8").lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError:
        return None


def clean_line(raw: bytes) -> tuple[str, str] | str:
    """Return (url, description) for a good TSV line, else the drop reason."""
    if len(raw) > MAX_LINE_BYTES:
        return "too_long"
    line = decode_line(raw)
    if line is None:
        return "undecodable"
    columns = line.split("\t")
    if len(columns) != 2:
        return "control_chars" if has_control_chars(line) else "wrong_columns"
    return clean_pair(columns[0], columns[1])


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


Parsed = tuple[str, str] | str  # (url, description) or the reason a row is dropped


def parse_tsv(stream: BinaryIO) -> Iterator[tuple[int, Parsed]]:
    """Yield (line number, parsed row) for each line of a TGIF-format stream (over-long
    lines are cut and counted as too long)."""
    for number, raw in enumerate(iter_lines(stream), start=1):
        yield number, clean_line(raw)


def iter_records(
    stream: BinaryIO,
    source: str,
    summary: ReadSummary,
    on_bad_line: BadLineHandler | None = None,
) -> Iterator[GifRecord]:
    """Yield the good rows of a TGIF-format stream once each, counting every dropped row."""
    return keep_records(parse_tsv(stream), source, summary, on_bad_line)


def keep_records(
    parsed: Iterable[tuple[int, Parsed]],
    source: str,
    summary: ReadSummary,
    on_bad_line: BadLineHandler | None = None,
    seen: set[str] | None = None,
) -> Iterator[GifRecord]:
    """Yield a record for each good (line number, parsed row) once, counting every dropped
    row by reason; any source format feeds its rows through here.

    seen holds the row ids already yielded (pass one set to read several sources as one).
    """
    seen = set() if seen is None else seen
    for line_no, cleaned in parsed:
        summary.rows_read += 1
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
    """Read, clean, de-duplicate and sample a TGIF-format file (ingest/sources.py reads
    the other formats, and several files as one set)."""
    summary = ReadSummary()
    with path.open("rb") as stream:
        records = iter_records(stream, source, summary, on_bad_line)
        return sample_records(records, limit, seed, summary), summary
