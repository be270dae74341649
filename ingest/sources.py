"""Sources: what --source names, as one kind of object, chosen in one place (open_source).

A source reads its GIF rows (URL + description), cleaned by ingest/reader.py, or, for a
folder of GIF files, its GIFs. Formats: TGIF's TSV (`URL<TAB>description`, the default),
CSV with a header and JSON Lines (the URL and text fields named by a FieldMapping, so sets
exported from other tools ingest as they are), and a folder of .gif files. A new format is
one Source subclass here and one entry in FORMATS.

Local sources must be regular files or directories: a FIFO, a device (/dev/zero) or a
socket would block or never end, so they are refused before they are opened.
"""

from __future__ import annotations

import csv
import json
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from ingest.frame_job import GifTarget, targets_from_files, targets_from_records
from ingest.gif_folder import has_gif_files, sample_gif_files
from ingest.reader import (
    BadLineHandler,
    Parsed,
    ReadSummary,
    clean_pair,
    decode_line,
    iter_lines,
    keep_records,
    parse_tsv,
    sample_records,
)
from ingest.release import ProgressFactory, bundled_sample_path, fetch_tgif, fetch_url
from ingest.source_spec import BUNDLED_SOURCE, TGIF_SOURCE, FieldMapping, SourceFormat
from search_app.errors import SourceError
from search_app.records import GifRecord
from search_app.settings import DEFAULT_DOWNLOAD_DEADLINE_S

MAX_HEADER_FIELDS = 200


@dataclass(frozen=True)
class SourceRows:
    """What a source read: its sampled rows, the read summary, and a folder's GIF files."""

    rows: list[GifRecord]
    summary: ReadSummary
    files: list[GifTarget] | None = None  # a folder's GIFs; None: a file of rows

    @property
    def targets(self) -> list[GifTarget]:
        """The GIFs to frame: a folder's files, or the rows' GIFs, made when asked (only
        frames and pruning ask; a million rows' GIFs take ~200 MB)."""
        return self.files if self.files is not None else targets_from_records(self.rows)


@dataclass(frozen=True)
class Source:
    """A file of GIF rows: its path, the label rows are stored under, a notice to show."""

    path: Path
    label: str
    notice: str | None = None
    fields: FieldMapping = field(default_factory=FieldMapping)

    has_descriptions = True  # a folder of GIFs has none

    def records(
        self,
        summary: ReadSummary,
        on_bad_line: BadLineHandler | None = None,
        seen: set[str] | None = None,
    ) -> Iterator[GifRecord]:
        """Yield the good rows once each, counting every dropped row in summary."""
        with self.path.open("rb") as stream:
            yield from keep_records(self.parse(stream), self.label, summary, on_bad_line, seen)

    def parse(self, stream: BinaryIO) -> Iterator[tuple[int, Parsed]]:
        """Yield (line number, (url, description) or a drop reason) for each row."""
        raise NotImplementedError

    def read(
        self, limit: int | None, seed: int, on_bad_line: BadLineHandler | None = None
    ) -> SourceRows:
        """Read, clean, de-duplicate and sample the rows; every GIF among them is a target."""
        summary = ReadSummary()
        rows = sample_records(self.records(summary, on_bad_line), limit, seed, summary)
        return SourceRows(rows, summary)


class TsvSource(Source):
    """TGIF's format: `URL<TAB>description`, one row per line, no header."""

    def parse(self, stream: BinaryIO) -> Iterator[tuple[int, Parsed]]:
        """Yield each line's row (over-long lines are cut and counted as too long)."""
        return parse_tsv(stream)


class CsvSource(Source):
    """CSV with a header row naming the columns; one row per line."""

    def parse(self, stream: BinaryIO) -> Iterator[tuple[int, Parsed]]:
        """Yield each data line's row; a header without the mapped columns is an error."""
        lines = enumerate(iter_lines(stream), start=1)
        header_line = next(lines, None)
        if header_line is None:
            return
        header = _csv_cells(header_line[1])
        if header is None or len(header) > MAX_HEADER_FIELDS:
            raise SourceError(f"source {self.label}: its first line is not a CSV header")
        columns = {name.strip(): index for index, name in enumerate(header)}
        wanted = (self.fields.url_field, self.fields.text_field)
        missing = [name for name in wanted if name not in columns]
        if missing:
            shown = ", ".join(sorted(columns))[:200]
            raise SourceError(
                f"source {self.label} has no column {missing[0]!r} (its columns: {shown}); "
                "name them with --url-field and --text-field"
            )
        url_at, text_at = columns[wanted[0]], columns[wanted[1]]
        for number, raw in lines:
            cells = _csv_cells(raw)
            if cells is None:
                yield number, "undecodable"
            elif len(cells) != len(header):
                yield number, "wrong_columns"
            else:
                yield number, clean_pair(cells[url_at], cells[text_at])


def _csv_cells(raw: bytes) -> list[str] | None:
    line = decode_line(raw)
    if line is None:
        return None
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return None


class JsonlSource(Source):
    """JSON Lines: one JSON object per line, the URL and description under mapped keys."""

    def parse(self, stream: BinaryIO) -> Iterator[tuple[int, Parsed]]:
        """Yield each line's row; a line that is not an object with both keys is dropped."""
        for number, raw in enumerate(iter_lines(stream), start=1):
            line = decode_line(raw)
            if line is None:
                yield number, "undecodable"
                continue
            try:
                item = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                yield number, "bad_json"
                continue
            url = item.get(self.fields.url_field) if isinstance(item, dict) else None
            text = item.get(self.fields.text_field) if isinstance(item, dict) else None
            if not isinstance(url, str) or not isinstance(text, str):
                yield number, "missing_field"
                continue
            yield number, clean_pair(url, text)


class GifFolderSource(Source):
    """A folder of .gif files: each file is a GIF without descriptions (ingested by frames)."""

    has_descriptions = False

    def read(
        self, limit: int | None, seed: int, on_bad_line: BadLineHandler | None = None
    ) -> SourceRows:
        """Sample the folder's GIF files (by --limit too); they have no rows."""
        files, found = sample_gif_files(self.path, limit, seed)
        summary = ReadSummary(rows_read=found, kept=found, sampled_out=found - len(files))
        return SourceRows([], summary, targets_from_files(files, self.label))


FORMATS: dict[SourceFormat, type[Source]] = {
    SourceFormat.TSV: TsvSource,
    SourceFormat.CSV: CsvSource,
    SourceFormat.JSONL: JsonlSource,
}
SUFFIXES = {".csv": SourceFormat.CSV, ".jsonl": SourceFormat.JSONL, ".ndjson": SourceFormat.JSONL}


def format_of(name: str, asked: SourceFormat | None) -> SourceFormat:
    """Return the asked format, else the one the name's suffix says (TSV by default)."""
    if asked is not None:
        return asked
    return SUFFIXES.get(Path(urlsplit(name).path).suffix.lower(), SourceFormat.TSV)


def open_source(
    spec: str,
    cache_dir: Path,
    timeout_s: float,
    fields: FieldMapping | None = None,
    source_format: SourceFormat | None = None,
    deadline_s: float = DEFAULT_DOWNLOAD_DEADLINE_S,
    progress: ProgressFactory | None = None,
    allow_private: bool = False,
) -> Source:
    """Return the Source a --source value names: 'tgif' (the release; the bundled sample
    when offline), 'tgif-sample', an http(s) URL, a folder of GIFs or a file. A download
    waits timeout_s for each connect and read, deadline_s in all; allow_private lets it
    reach loopback and private addresses (ingest/reach.py)."""
    fields = fields or FieldMapping()
    if spec == TGIF_SOURCE:
        fetched = fetch_tgif(
            cache_dir,
            timeout_s,
            deadline_s=deadline_s,
            progress=progress,
            allow_private=allow_private,
        )
        return TsvSource(fetched.path, fetched.label, fetched.notice)
    if spec == BUNDLED_SOURCE:
        return TsvSource(bundled_sample_path(), BUNDLED_SOURCE)
    if spec.startswith(("http://", "https://")):
        fetched = fetch_url(spec, cache_dir, timeout_s, deadline_s, progress, allow_private)
        kind = FORMATS[format_of(spec, source_format)]
        return kind(fetched.path, fetched.label, fetched.notice, fields)
    if "://" in spec or spec.startswith(("javascript:", "data:")):
        raise SourceError(f"source {spec[:200]!r}: use a local file, an http(s) URL or 'tgif'")
    path = Path(spec).expanduser()
    mode = _mode_of(path, spec)
    if stat.S_ISDIR(mode):
        if not has_gif_files(path):
            raise SourceError(
                f"source {spec} is a directory with no .gif files: "
                "give a TGIF-format .tsv file or a folder of GIFs"
            )
        return GifFolderSource(path, str(path.resolve()))
    if not stat.S_ISREG(mode):
        raise SourceError(
            f"source {spec} is not a regular file (a device, a pipe or a socket); "
            "copy the rows into a file first"
        )
    kind = FORMATS[format_of(spec, source_format)]
    return kind(path, str(path.resolve()), None, fields)


def _mode_of(path: Path, spec: str) -> int:
    try:
        return path.stat().st_mode  # follows links: a link to /dev/zero is a device
    except FileNotFoundError:
        raise SourceError(f"source file {spec} does not exist") from None
    except OSError as exc:
        raise SourceError(f"source {spec} can't be read: {exc.strerror or exc}") from None


def read_together(
    sources: Sequence[Source],
    limit: int | None,
    seed: int,
    on_bad_line: BadLineHandler | None = None,
) -> tuple[list[GifRecord], ReadSummary]:
    """Read several sources as one set: cleaned, de-duplicated across them, sampled together."""
    summary = ReadSummary()
    seen: set[str] = set()

    def records() -> Iterator[GifRecord]:
        for source in sources:
            yield from source.records(summary, on_bad_line, seen)

    return sample_records(records(), limit, seed, summary), summary
