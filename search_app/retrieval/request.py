"""A search request: the one value every front end (the CLI, the page, the gradio API, the
JSON API and its dialects, eval) builds and SearchEngine.search takes.

Its limits are declared here once, and checked here once, when a request is made: a front
end maps its own inputs to a request in one function, and a bad value becomes a
ConfigError (or EmptyQueryError, QueryTooLongError) whose one line names the field, quotes
no more of the value than a short prefix, and says what is allowed. Adding a filter means
one field here, one check in _check, one filter step in the engine, and each front end's
mapping.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from search_app.errors import ConfigError, EmptyQueryError, QueryTooLongError
from search_app.retrieval.query import ParsedQuery, parse_query

if TYPE_CHECKING:
    from PIL import Image

MAX_K = 50  # results per request: a page of a grid (GIPHY's and Tenor's own maximum)
MAX_OFFSET = 500  # "load more" and the APIs page this deep at most
MAX_QUERY_CHARS = 1_000  # a sentence or two; the search box and the API take no more
MAX_QUERY_BYTES = 4_000  # the same in UTF-8 (4 bytes a character at most)
DEFAULT_IMAGE_WEIGHT = 0.5  # an image's (or GIF's) share in a combined query
MAX_SHOWN_CHARS = 40  # of a bad value, in its error
MAX_SHOWN_BITS = 128  # a longer whole number is described, not written out
GIF_ID_PATTERN = re.compile(r"[0-9a-f]{32}")  # records.make_gif_id: 16 bytes, in hex


class Aspect(StrEnum):
    """Which shapes of GIF a search returns, by width / height (Tenor's ar_range)."""

    ALL = "all"
    WIDE = "wide"  # 0.42 to 2.36
    STANDARD = "standard"  # 0.56 to 1.78


ASPECT_RANGES: Mapping[Aspect, tuple[float, float]] = MappingProxyType(
    {Aspect.ALL: (0.0, math.inf), Aspect.WIDE: (0.42, 2.36), Aspect.STANDARD: (0.56, 1.78)}
)


def fits_aspect(aspect: str, width: int, height: int) -> bool:
    """Whether a GIF of width x height is of the shape asked for; a GIF whose size was
    never seen (0) is kept: nothing says it is not."""
    if width <= 0 or height <= 0:
        return True
    low, high = ASPECT_RANGES[Aspect(aspect)]
    return low <= width / height <= high


class FrontEnd(StrEnum):
    """Who asks: each front end may have its own default number of results."""

    ENGINE = "engine"
    CLI = "cli"
    PAGE = "page"
    API = "api"
    GIPHY = "giphy"
    TENOR = "tenor"


# Results per request when a front end's caller asks for no number: the CLI prints a
# screenful, the page fills four rows of three, GIPHY and Tenor document 25 and 20.
DEFAULT_K: Mapping[FrontEnd, int] = MappingProxyType(
    {
        FrontEnd.ENGINE: 10,
        FrontEnd.CLI: 10,
        FrontEnd.PAGE: 12,
        FrontEnd.API: 10,
        FrontEnd.GIPHY: 25,
        FrontEnd.TENOR: 20,
    }
)


def shown(value: object) -> str:
    """A value as an error may quote it: repr, cut to MAX_SHOWN_CHARS (a whole number too
    long to write out, as Python won't past 4,300 digits, by its size)."""
    if isinstance(value, int) and value.bit_length() > MAX_SHOWN_BITS:
        return f"a number of about {int(value.bit_length() * math.log10(2)):,} digits"
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"


def check_whole(name: str, value: object, low: int, high: int) -> int:
    """Return value when it is a whole number (an int, not a bool) from low to high."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {shown(value)}")
    if not low <= value <= high:
        raise ConfigError(f"{name} {shown(value)} is out of range: use {low} to {high}")
    return value


def check_fraction(name: str, value: object, low: float, high: float) -> float:
    """Return value as a float when it is a finite number (not a bool) from low to high."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number from {low:g} to {high:g}, not {shown(value)}")
    if not low <= value <= high:
        raise ConfigError(f"{name} {shown(value)} is out of range: use {low:g} to {high:g}")
    return float(value)


def clean_query(query: object) -> str:
    """Return the query with whitespace collapsed, refusing (in one line that does not
    repeat it) what isn't a sentence: not text, too long, not valid Unicode. May be ""."""
    if not isinstance(query, str):  # API callers can send any JSON value
        raise ConfigError(f"the query must be text, not {type(query).__name__}")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryTooLongError(
            f"the query is {len(query):,} characters long: keep it to {MAX_QUERY_CHARS:,}"
        )
    try:
        size = len(query.encode("utf-8"))
    except UnicodeEncodeError:  # e.g. invalid UTF-8 on the command line (lone surrogates)
        raise ConfigError("the query is not valid text (invalid UTF-8): retype it") from None
    if size > MAX_QUERY_BYTES:
        raise QueryTooLongError(f"the query is {size:,} bytes: keep it to {MAX_QUERY_BYTES:,}")
    return " ".join(query.split())


def check_gif_id(gif_id: object) -> str:
    """Return gif_id when it is a GIF id (32 hex digits); raise ConfigError otherwise,
    quoting no more of it than a short prefix."""
    if not isinstance(gif_id, str):
        raise ConfigError(f"a GIF id is text, not {type(gif_id).__name__}")
    if not GIF_ID_PATTERN.fullmatch(gif_id):
        raise ConfigError(f"{shown(gif_id)} is not a GIF id (32 hexadecimal digits)")
    return gif_id


@dataclass(frozen=True)
class SearchRequest:
    """What to search for and which page of the results to return.

    text: a sentence, with the query language's exclusions (-word, -"a phrase");
    image: a picture (CLIP collections) and like: a stored GIF's id ("more like this"),
    each alone or joined with text, their rankings fused by rank with the image's (or
    GIF's) share image_weight. k results after the first offset; results under
    min_score are held back; GIFs the link checker found dead are hidden unless
    include_dead. At least one of text, image and like is needed; image and like are
    not taken together. aspect keeps only GIFs of that shape (fits_aspect).
    """

    text: str = ""
    k: int = DEFAULT_K[FrontEnd.ENGINE]
    offset: int = 0
    min_score: float | None = None
    include_dead: bool = False
    image: Image.Image | None = field(default=None, compare=False)
    like: str | None = None
    image_weight: float = DEFAULT_IMAGE_WEIGHT
    aspect: str = Aspect.ALL

    def __post_init__(self) -> None:
        _check(self)

    @property
    def query(self) -> ParsedQuery:
        """The text split into what to find and what to leave out ("" and () for none)."""
        return parse_query(self.text) if self.text else ParsedQuery("")

    @property
    def combined(self) -> bool:
        """Whether text is joined with an image or a stored GIF (rankings fused)."""
        return bool(self.text) and (self.image is not None or self.like is not None)


def _check(request: SearchRequest) -> None:
    """Every check of a request, in one place (the text is stored cleaned)."""
    text = clean_query(request.text)
    object.__setattr__(request, "text", text)
    check_whole("k", request.k, 1, MAX_K)
    check_whole("offset", request.offset, 0, MAX_OFFSET)
    if request.min_score is not None:
        score = check_fraction("min score", request.min_score, -1.0, 1.0)
        object.__setattr__(request, "min_score", score)
    if not isinstance(request.include_dead, bool):
        raise ConfigError(f"include_dead must be true or false, not {shown(request.include_dead)}")
    weight = check_fraction("image weight", request.image_weight, 0.0, 1.0)
    object.__setattr__(request, "image_weight", weight)
    if request.aspect not in tuple(Aspect):
        choices = ", ".join(Aspect)
        raise ConfigError(f"aspect {shown(request.aspect)} is not one of {choices}")
    if request.like is not None:
        check_gif_id(request.like)
    if request.image is not None and request.like is not None:
        raise ConfigError("search by an image or like a stored GIF, not both at once")
    if not text and request.image is None and request.like is None:
        raise EmptyQueryError("the query is empty: type what should happen in the GIF")
    if text:
        parse_query(text)  # a query of exclusions only is refused here, not mid-search
