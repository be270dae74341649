"""Records that flow between reader, store and search: GIF rows, frames and search hits."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ID_DIGEST_BYTES = 16


class RowKind(StrEnum):
    """What a stored row holds."""

    DESCRIPTION = "description"  # one description of a GIF (a text vector)
    FRAME = "frame"  # one frame of a GIF (an image vector)


class LinkStatus(StrEnum):
    """Whether a GIF's URL loaded when the link checker last tried it ("": never checked)."""

    ALIVE = "alive"
    DEAD = "dead"


# Metadata keys the link checker records on every row of a GIF (search hides DEAD GIFs).
LINK_KEY = "link"  # a LinkStatus value
LINK_CHECKED_KEY = "link_checked_at"  # when, in whole seconds since the epoch (UTC)
LINK_REASON_KEY = "link_reason"  # why it is dead: a download failure reason
# A GIF's logical screen size in pixels, recorded on its rows where its bytes were seen (the
# link checker, the frames step, a folder source); a GIF never seen has neither key.
WIDTH_KEY = "width"
HEIGHT_KEY = "height"


class ScoreKind(StrEnum):
    """What a hit's score is."""

    COSINE = "cosine"  # cosine-based: soft-best of descriptions (ranking.py), or best frame
    RANK_FUSION = "rank_fusion"  # the fusion of its description and frame ranks
    NONE = "none"  # not ranked for a query: a lookup by id, the featured selection


def make_gif_id(url: str) -> str:
    """Return the stable id of a GIF: a hash of its URL."""
    return hashlib.blake2b(url.encode("utf-8"), digest_size=ID_DIGEST_BYTES).hexdigest()


def make_row_id(url: str, description: str) -> str:
    """Return the stable id of one description of one GIF: a hash of URL + description."""
    payload = f"{url}\t{description}".encode()
    return hashlib.blake2b(payload, digest_size=ID_DIGEST_BYTES).hexdigest()


def make_frame_id(gif_id: str, frame_set: str, slot: int) -> str:
    """Return the stable id of a GIF's slot-th chosen frame under one frame set."""
    payload = f"{gif_id}\t{RowKind.FRAME}\t{frame_set}\t{slot}".encode()
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
class FrameRecord:
    """One chosen frame of a GIF: its index among frame_count, under frame_set (e.g. diverse-3).

    path is the GIF's local file for a folder source, else "".
    """

    url: str
    gif_id: str
    source: str
    frame_index: int
    frame_count: int
    frame_set: str
    slot: int
    path: str = ""
    width: int = 0  # the GIF's size (0: not known)
    height: int = 0
    row_id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "row_id", make_frame_id(self.gif_id, self.frame_set, self.slot))

    def label(self) -> str:
        """Return the frame's document text, e.g. 'frame 3 of 20'."""
        return f"frame {self.frame_index + 1} of {self.frame_count}"

    def metadata(self) -> dict[str, str | int]:
        """Return the metadata stored beside the frame vector."""
        meta: dict[str, str | int] = {
            "url": self.url,
            "gif_id": self.gif_id,
            "source": self.source,
            "kind": RowKind.FRAME,
            "frame_index": self.frame_index,
            "frame_count": self.frame_count,
            "frame_set": self.frame_set,
        }
        if self.path:
            meta["path"] = self.path
        if self.width > 0 and self.height > 0:
            meta[WIDTH_KEY], meta[HEIGHT_KEY] = self.width, self.height
        return meta


@dataclass(frozen=True)
class StoredRow:
    """A row read back from the store, with its cosine distance when it came from a query.

    For a frame row, description is its label and frame_index says which frame it is.
    """

    row_id: str
    gif_id: str
    url: str
    description: str
    source: str
    distance: float | None = None
    kind: str = RowKind.DESCRIPTION
    frame_index: int | None = None
    frame_set: str = ""
    link: str = ""  # a LinkStatus value, or "" when the link was never checked
    link_checked_at: int = 0
    link_reason: str = ""
    width: int = 0  # the GIF's size where it was recorded on this row (0: not known)
    height: int = 0
    path: str = ""  # a folder source's GIF file (frame rows), else ""

    @property
    def is_dead(self) -> bool:
        """Whether the link checker found this row's GIF dead."""
        return self.link == LinkStatus.DEAD


@dataclass(frozen=True)
class StoredGif:
    """What the store knows of one GIF, from all its rows: its URL, its descriptions
    (sorted), its size where its bytes were seen (0: never), the link checker's verdict and
    a folder source's file path.

    link is dead when any row is marked dead (a GIF's newer rows carry no mark until the
    next check), else alive when any row is marked alive, else "" (never checked);
    link_checked_at is the latest check.
    """

    gif_id: str
    url: str
    descriptions: tuple[str, ...] = ()
    width: int = 0
    height: int = 0
    link: str = ""
    link_checked_at: int = 0
    link_reason: str = ""
    path: str = ""

    @property
    def dead(self) -> bool:
        """Whether the link checker found this GIF dead."""
        return self.link == LinkStatus.DEAD

    @classmethod
    def from_rows(cls, rows: Sequence[StoredRow]) -> StoredGif:
        """Return the GIF of rows (all of one GIF, of either kind)."""
        dead = [r for r in rows if r.link == LinkStatus.DEAD]
        alive = any(r.link == LinkStatus.ALIVE for r in rows)
        sized = next((r for r in rows if r.width > 0 and r.height > 0), None)
        return cls(
            gif_id=rows[0].gif_id,
            url=rows[0].url,
            descriptions=tuple(sorted(r.description for r in rows if r.kind != RowKind.FRAME)),
            width=sized.width if sized else 0,
            height=sized.height if sized else 0,
            link=LinkStatus.DEAD if dead else (LinkStatus.ALIVE if alive else ""),
            link_checked_at=max(r.link_checked_at for r in rows),
            link_reason=dead[0].link_reason if dead else "",
            path=next((r.path for r in rows if r.path), ""),
        )


def gifs_of_rows(rows: Iterable[StoredRow]) -> dict[str, StoredGif]:
    """Group rows by GIF (in the order first seen) and return each GIF's StoredGif."""
    by_gif: dict[str, list[StoredRow]] = {}
    for row in rows:
        by_gif.setdefault(row.gif_id, []).append(row)
    return {gif_id: StoredGif.from_rows(group) for gif_id, group in by_gif.items()}


@dataclass(frozen=True)
class SearchHit:
    """One GIF in a result list: its score, its best description and what matched.

    description_score is the GIF's score on its descriptions: the cosine of its best
    description plus a bonus of at most 0.02 when others match almost as well (soft-best,
    search_app/retrieval/ranking.py), the plain cosine for a GIF with one description; frame_score
    is the cosine of its best frame (each None when that kind did not match).
    score is the score of the one kind that matched, or their rank fusion when the
    collection holds both (score_kind says which; see search_app.retrieval.engine). A hit built
    with neither kind's score is a description hit scored by score. description is ""
    for a GIF without descriptions.
    """

    gif_id: str
    url: str
    score: float
    description: str
    other_descriptions: tuple[str, ...] = ()
    description_score: float | None = None
    frame_score: float | None = None
    frame_index: int | None = None
    score_kind: str = ScoreKind.COSINE
    dead: bool = False  # the link checker found its URL dead (shown only when asked for)
    width: int = 0  # the GIF's size in pixels where its bytes were seen (0: never seen)
    height: int = 0
    link: str = ""  # a LinkStatus value, or "" when never checked
    link_checked_at: int = 0
    remembered: bool = False  # ranked up: shared before for a query like this one

    def __post_init__(self) -> None:
        unranked = self.score_kind == ScoreKind.NONE
        if self.description_score is None and self.frame_score is None and not unranked:
            object.__setattr__(self, "description_score", self.score)

    @property
    def matched(self) -> tuple[str, ...]:
        """The kinds of row that matched the query: 'description', 'frame' or both."""
        scores = ((RowKind.DESCRIPTION, self.description_score), (RowKind.FRAME, self.frame_score))
        return tuple(kind for kind, score in scores if score is not None)

    def match_parts(self) -> list[str]:
        """Return each kind's match, e.g. ['description 0.871', 'frame 12 0.294']."""
        parts = []
        if self.description_score is not None:
            parts.append(f"description {self.description_score:.3f}")
        if self.frame_score is not None:
            parts.append(f"frame {(self.frame_index or 0) + 1} {self.frame_score:.3f}")
        return parts

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchHit:
        """Return the hit to_dict gave (e.g. kept in a web page's state); its values are
        to_dict's plain data, passed on as they are (Any: JSON-ready, not checked here)."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["other_descriptions"] = tuple(fields.get("other_descriptions") or ())
        if fields.get("score") is None:  # a GIF shown without a query (ScoreKind.NONE)
            fields["score"] = 0.0
        return cls(**fields)

    def to_dict(self) -> dict[str, object]:
        """Return the hit as plain JSON-ready data."""
        return {
            "gif_id": self.gif_id,
            "url": self.url,
            "score": None if self.score_kind == ScoreKind.NONE else round(self.score, 6),
            "description": self.description,
            "other_descriptions": list(self.other_descriptions),
            "matched": list(self.matched),
            "description_score": _rounded(self.description_score),
            "frame_score": _rounded(self.frame_score),
            "frame_index": self.frame_index,
            "score_kind": self.score_kind,
            "dead": self.dead,
            "width": self.width,
            "height": self.height,
            "link": self.link,
            "link_checked_at": self.link_checked_at,
            "remembered": self.remembered,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


@dataclass(frozen=True)
class LinkState:
    """What the link checker found for a GIF: its status, when (whole seconds since the
    epoch) and, for a dead one, why (a download failure reason)."""

    status: LinkStatus
    checked_at: int
    reason: str = ""
    width: int = 0  # the GIF's size, when its first bytes were read (0: not read)
    height: int = 0

    def metadata(self) -> dict[str, str | int | None]:
        """Return the row metadata recording this state (None removes an alive row's reason;
        a size is recorded only when it was read, and never removed)."""
        meta: dict[str, str | int | None] = {
            LINK_KEY: str(self.status),
            LINK_CHECKED_KEY: self.checked_at,
            LINK_REASON_KEY: self.reason or None,
        }
        if self.width > 0 and self.height > 0:
            meta[WIDTH_KEY], meta[HEIGHT_KEY] = self.width, self.height
        return meta


@dataclass(frozen=True)
class GifLinks:
    """A GIF as the link checker sees it: its URL, the ids of its description and frame
    rows, and the link status recorded on them.

    link is the status every row records ("" when some row has none, or rows disagree);
    checked_at is the oldest check among its rows (0 when some row was never checked), so
    a GIF that gained a row since its check is due again.
    """

    gif_id: str
    url: str
    description_ids: tuple[str, ...] = ()
    frame_ids: tuple[str, ...] = ()
    link: str = ""
    checked_at: int = 0

    @classmethod
    def from_rows(cls, rows: Sequence[StoredRow]) -> GifLinks:
        """Return the GIF of rows (all of one GIF, of either kind)."""
        links = {row.link for row in rows}
        return cls(
            gif_id=rows[0].gif_id,
            url=rows[0].url,
            description_ids=tuple(r.row_id for r in rows if r.kind != RowKind.FRAME),
            frame_ids=tuple(r.row_id for r in rows if r.kind == RowKind.FRAME),
            link=links.pop() if len(links) == 1 else "",
            checked_at=min(row.link_checked_at for row in rows),
        )
