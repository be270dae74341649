"""`gifsearch search`: search the GIFs by a sentence or an image, from the terminal."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from gifsearch.console import notify
from gifsearch.flags import (
    add_command,
    add_setting_flags,
    positive_int,
    settings_from_args,
)
from search_app.records import SearchHit
from search_app.settings import SettingGroup

GROUPS = (SettingGroup.INDEX, SettingGroup.MODEL)
DEFAULT_K = 10


def cmd_search(args: argparse.Namespace) -> int:
    """Search the GIFs by what happens in them (or by an image); one block per GIF, best first.

    A collection with frames ranks each GIF by its description and frame matches fused;
    each result says which matched. --image needs a collection built with a CLIP model.

    Examples:
      gifsearch search "two dogs playing" -k 5
      gifsearch search --image cat.png --collection clipgifs
    """
    from search_app.frames import read_image_file
    from search_app.search import SearchEngine, clean_query
    from search_app.text_table import format_hits

    settings = settings_from_args(args)
    if args.image is not None:
        image = read_image_file(Path(args.image))  # fail before loading anything
        hits = SearchEngine.open(settings, need_images=True).search_image(image, args.k)
    else:
        clean_query(args.query)  # fail before loading anything
        hits = SearchEngine.open(settings).search(args.query, args.k)
    if args.json:
        print(json.dumps([hit.to_dict() for hit in hits], indent=2, ensure_ascii=False))
    elif not hits:
        notify("no results: the collection is empty")
    else:
        print(format_hits([with_match_note(hit) for hit in hits]))
    return 0


def with_match_note(hit: SearchHit) -> SearchHit:
    """Return hit with its description line saying what matched when frames took part."""
    text = hit.description or "(no description)"
    if hit.frame_score is None:
        return replace(hit, description=text)
    return replace(hit, description=f"{text}  [matched: {', '.join(hit.match_parts())}]")


def add_search_parser(commands: argparse._SubParsersAction) -> None:
    """Register `gifsearch search`."""
    parser = add_command(commands, "search", cmd_search, "search GIFs by a sentence", GROUPS)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("query", nargs="?", help="what happens in the GIF")
    what.add_argument("--image", metavar="FILE", help="find GIFs like this image or GIF (CLIP)")
    parser.add_argument(
        "-k", type=positive_int, default=DEFAULT_K, help=f"GIFs to return (default: {DEFAULT_K})"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    add_setting_flags(parser, GROUPS)
