"""What --source names and how to read it: the names of the built-in sources, the file
formats, and the field mapping of CSV and JSON Lines. Light on purpose: the CLI's parser
reads these for its flags, and must not load the ingest job to do so."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from search_app.errors import ConfigError

TGIF_SOURCE = "tgif"  # the TGIF release (the bundled sample when it can't be reached)
BUNDLED_SOURCE = "tgif-sample"  # the sample shipped in ingest/data
MAX_FIELD_NAME_CHARS = 100


class SourceFormat(StrEnum):
    """The file formats a source can be read in."""

    TSV = "tsv"
    CSV = "csv"
    JSONL = "jsonl"


@dataclass(frozen=True)
class FieldMapping:
    """Which CSV column or JSON key holds a GIF's URL, and which its description."""

    url_field: str = "url"
    text_field: str = "description"

    def __post_init__(self) -> None:
        for name in (self.url_field, self.text_field):
            if not name.strip() or len(name) > MAX_FIELD_NAME_CHARS:
                shown = name[:MAX_FIELD_NAME_CHARS]
                raise ConfigError(
                    f"field name {shown!r} must be 1 to {MAX_FIELD_NAME_CHARS} characters"
                )
