"""Records that flow between reader, store and search: GIF rows and search hits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

ID_DIGEST_BYTES = 16


def make_gif_id(url: str) -> str:
    """Return the stable id of a GIF: a hash of its URL."""
    return hashlib.blake2b(url.encode("utf-8"), digest_size=ID_DIGEST_BYTES).hexdigest()


def make_row_id(url: str, description: str) -> str:
    """Return the stable id of one description of one GIF: a hash of URL + description."""
    payload = f"{url}\t{description}".encode()
    return hashlib.blake2b(payload, digest_size=ID_DIGEST_BYTES).hexdigest()


@dataclass(frozen=True)
class GifRecord:
    """One cleaned input row: a GIF URL with one of its descriptions."""

    url: str
    description: str
    source: str
    row_id: str = field(init=False)
    gif_id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "row_id", make_row_id(self.url, self.description))
        object.__setattr__(self, "gif_id", make_gif_id(self.url))

    def metadata(self) -> dict[str, str]:
        """Return the metadata stored beside the description in the collection."""
        return {"url": self.url, "gif_id": self.gif_id, "source": self.source}


@dataclass(frozen=True)
class StoredRow:
    """A row read back from the store, with its cosine distance when it came from a query."""

    row_id: str
    gif_id: str
    url: str
    description: str
    source: str
    distance: float | None = None


@dataclass(frozen=True)
class SearchHit:
    """One GIF in a result list, scored by its best-matching description."""

    gif_id: str
    url: str
    score: float
    description: str
    other_descriptions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return the hit as plain JSON-ready data."""
        return {
            "gif_id": self.gif_id,
            "url": self.url,
            "score": round(self.score, 6),
            "description": self.description,
            "other_descriptions": list(self.other_descriptions),
        }
