"""`gifsearch usage`: what this machine remembers of a collection's use, and forgetting it."""

from __future__ import annotations

import argparse
import json

from gifsearch.console import notify
from gifsearch.flags import Commands, add_command, add_setting_flags, settings_from_args
from search_app.settings import SettingGroup

GROUPS = (SettingGroup.INDEX,)


def cmd_usage(args: argparse.Namespace) -> int:
    """Show (or, with --clear, delete) what was recorded of the collection's use.

    gifsearch remembers, on this machine only, the GIFs people shared (sent or copied)
    for a query, and the queries they searched: shared GIFs rank higher for close queries
    and lead the trending list, and past searches complete what you type. It is kept in
    the store's directory (gifsearch-usage.sqlite3; for a Chroma server, in the cache
    directory), bounded, and never sent anywhere.

    Examples:
      gifsearch usage
      gifsearch usage --clear --collection clipgifs
    """
    from search_app.store.usage import UsageLog, usage_path

    settings = settings_from_args(args)
    usage = UsageLog.for_settings(settings)
    if args.clear:
        shares, searches = usage.clear()
        notify(f'forgot {shares:,} shares and {searches:,} searches of "{settings.collection}"')
        return 0
    shares, searches = usage.counts()
    recent = usage.recent_shares(5)
    terms = [past.query for past in usage.past_searches(k=5)]
    if args.json:
        data = {
            "file": str(usage_path(settings)),
            "shares": shares,
            "searches": searches,
            "recent_shares": recent,
            "top_searches": terms,
        }
        print(json.dumps(data, indent=2))
        return 0
    print(
        f'"{settings.collection}": {shares:,} shares, {searches:,} searches recorded in '
        f"{usage_path(settings)} (this machine only)"
    )
    if terms:
        print("most searched: " + "; ".join(terms))
    return 0


def add_usage_parser(commands: Commands) -> None:
    """Register `gifsearch usage`."""
    parser = add_command(
        commands,
        "usage",
        cmd_usage,
        "show or clear what is remembered of searches and shares",
        GROUPS,
    )
    parser.add_argument("--clear", action="store_true", help="forget every share and search")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_setting_flags(parser, GROUPS)
