"""`gifsearch search`: search the GIFs by a sentence or an image, from the terminal."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from gifsearch.console import notify
from gifsearch.flags import (
    Commands,
    add_command,
    add_setting_flags,
    request_number,
    settings_from_args,
)
from search_app.records import SearchHit
from search_app.retrieval.request import (
    DEFAULT_IMAGE_WEIGHT,
    DEFAULT_K,
    MAX_K,
    MAX_OFFSET,
    FrontEnd,
    SearchRequest,
    check_fraction,
    check_whole,
)
from search_app.settings import SettingGroup

if TYPE_CHECKING:
    from PIL import Image

    from search_app.retrieval.engine import HitList

GROUPS = (SettingGroup.INDEX, SettingGroup.MODEL)
CLI_DEFAULT_K = DEFAULT_K[FrontEnd.CLI]
COMMAND = "search"
# A word of the query that starts with a minus (-ball, or -"red ball" once the shell has
# taken its quotes off): an exclusion, not a flag, unless the parser knows it as one.
MINUS_WORD = re.compile(r"-[^\W\d_].*", re.S)


def cmd_search(args: argparse.Namespace) -> int:
    """Search the GIFs by what happens in them (or by an image); one block per GIF, best first.

    The query may leave things out: -word or -"a phrase" drops the GIFs whose descriptions
    mention it (a dog plays outside -ball). --image FILE (a CLIP collection) or --like
    GIF_ID searches by an image or a stored GIF, alone or mixed with the query's text
    (--image-weight: the image's share). --min-score holds back weaker results; GIFs the
    link checker found dead are hidden unless --include-dead. A collection with frames
    ranks each GIF by its description and frame matches fused; each result says which.

    Examples:
      gifsearch search "two dogs playing" -k 5
      gifsearch search "a dog plays outside -ball -\"red ball\"" --min-score 0.5
      gifsearch search --image cat.png "in the snow" --collection clipgifs
      gifsearch search --like 9f86d081884c7d659a2feaa0c55ad015 "at night"
    """
    from search_app.embedders.frames import read_image_file
    from search_app.retrieval.engine import SearchEngine
    from search_app.text_table import format_hits

    args.query = " ".join(args.query) or None  # its words, as the shell split them
    if args.query is None and args.image is None and args.like is None:
        args.parser.error("give a query, --image FILE or --like GIF_ID")
    settings = settings_from_args(args)
    image = read_image_file(Path(args.image)) if args.image is not None else None
    request = request_from_args(args, image)  # checked before any model loads
    engine = SearchEngine.open(settings, need_images=image is not None)
    if engine.embedder.notice:
        notify(engine.embedder.notice)
    hits = engine.search(request)
    if args.json:
        print(json.dumps([hit.to_dict() for hit in hits], indent=2, ensure_ascii=False))
    elif hits:
        print(format_hits([with_match_note(hit) for hit in hits]))
    for notice in left_out_notices(hits, request):
        notify(notice)
    if not hits and not hits.held_back:
        notify("no results: the collection is empty" if not hits.excluded else "no results")
    return 0


def request_from_args(args: argparse.Namespace, image: Image.Image | None) -> SearchRequest:
    """The CLI's mapping: its flags (and the image read from --image) to a SearchRequest."""
    return SearchRequest(
        text=args.query or "",
        k=args.k,
        offset=args.offset,
        min_score=args.min_score,
        include_dead=args.include_dead,
        image=image,
        like=args.like,
        image_weight=args.image_weight,
    )


def left_out_notices(hits: HitList, request: SearchRequest) -> list[str]:
    """Say what the search left out: weaker results, GIFs mentioning an excluded term,
    GIFs known dead."""
    notices = []
    if hits.held_back:
        notices.append(
            f"{hits.held_back} result(s) under --min-score {request.min_score:g} held back"
        )
    if hits.excluded:
        notices.append(f"{hits.excluded} GIF(s) mentioning what the query leaves out dropped")
    if hits.hidden_dead:
        notices.append(
            f"{hits.hidden_dead} GIF(s) whose link was found dead hidden (--include-dead)"
        )
    return notices


def with_match_note(hit: SearchHit) -> SearchHit:
    """Return hit with its description line saying what matched when frames took part."""
    text = hit.description or "(no description)"
    if hit.frame_score is None:
        return replace(hit, description=text)
    return replace(hit, description=f"{text}  [matched: {', '.join(hit.match_parts())}]")


def keep_minus_words(argv: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    """Return the search command's arguments with each -word of the query (one that is no
    flag of parser) marked as a query word, so argparse doesn't take it for an unknown
    flag (or -kitten for -k itten, "-kitten naps" too): a leading space, which the query's
    cleaning drops. A phrase to leave out is quoted in the query: -"red ball"."""
    options = parser._option_string_actions  # argparse keeps no public map of its flags
    kept: list[str] = []
    value_next = False
    for number, token in enumerate(argv):
        if token == "--":
            return kept + list(argv[number:])
        if value_next:
            kept.append(token)
            value_next = False
        elif (
            token not in options
            and MINUS_WORD.fullmatch(token)
            and not _short_with_value(token, options)
        ):
            kept.append(f" {token}")
        else:
            action = options.get(token)
            value_next = action is not None and action.nargs != 0
            kept.append(token)
    return kept


def _short_with_value(token: str, options: dict[str, argparse.Action]) -> bool:
    """Whether token is a short flag glued to its number (-k5)."""
    return token[:2] in options and token[2:].isdigit()


def add_search_parser(commands: Commands) -> None:
    """Register `gifsearch search`."""
    parser = add_command(commands, COMMAND, cmd_search, "search GIFs by a sentence", GROUPS)
    parser.add_argument(
        "query",
        nargs="*",
        help='what happens in the GIF; -word / -"phrase" leave things out (quote it, or not)',
    )
    by = parser.add_mutually_exclusive_group()  # SearchRequest takes one or the other
    by.add_argument("--image", metavar="FILE", help="find GIFs like this image or GIF (CLIP)")
    by.add_argument("--like", metavar="GIF_ID", help="find GIFs like this stored GIF")
    parser.add_argument(
        "--image-weight",
        type=request_number(float, check_fraction, "image weight", 0.0, 1.0),
        default=DEFAULT_IMAGE_WEIGHT,
        metavar="W",
        help="the image's (or --like GIF's) share when mixed with the query's text, 0 to 1 "
        f"(default: {DEFAULT_IMAGE_WEIGHT})",
    )
    parser.add_argument(
        "-k",
        type=request_number(int, check_whole, "k", 1, MAX_K),
        default=CLI_DEFAULT_K,
        help=f"GIFs to return, 1 to {MAX_K} (default: {CLI_DEFAULT_K})",
    )
    parser.add_argument(
        "--offset",
        type=request_number(int, check_whole, "offset", 0, MAX_OFFSET),
        default=0,
        help=f"skip this many results first, 0 to {MAX_OFFSET} (default: 0)",
    )
    parser.add_argument(
        "--min-score",
        type=request_number(float, check_fraction, "min score", -1.0, 1.0),
        metavar="S",
        help="hold back results scoring under S (the card's score; default: none)",
    )
    parser.add_argument(
        "--include-dead", action="store_true", help="also show GIFs whose link was found dead"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    add_setting_flags(parser, GROUPS)
    parser.set_defaults(parser=parser)  # cmd_search reports a missing query as a bad flag
