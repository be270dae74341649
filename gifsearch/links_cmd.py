"""`gifsearch check-links`: find out which GIF URLs still load, and record it."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from gifsearch.console import notify, tqdm_progress
from gifsearch.flags import Commands, add_command, add_setting_flags, settings_from_args
from search_app.errors import ConfigError
from search_app.settings import SettingGroup, Settings

if TYPE_CHECKING:
    from ingest.link_check import LinkCheckOptions, LinkReport

GROUPS = (SettingGroup.INDEX, SettingGroup.NETWORK)
DEFAULT_RECHECK_AFTER = "7d"  # ingest.link_check.DEFAULT_RECHECK_AFTER_S, as a flag reads it


def cmd_check_links(args: argparse.Namespace) -> int:
    """Check that each GIF's URL still loads as a GIF, and record it on the GIF's rows.

    Each web GIF is fetched with the frames download's rules (http(s) only, public
    addresses unless --allow-private-urls, 5 redirects at most, the network timeout, 30 s
    and 20 MB at most, image/gif with a GIF signature), 8 at a time, reading only its
    first 10 bytes. A GIF that answers with an error or something that is not a GIF is
    recorded dead (the reason too), one that loads alive with its width and height, each
    with the time of the check; a timeout or network error changes nothing (the GIF is
    tried again next run). GIFs checked within --recheck-after are skipped, local files
    always. Ctrl+C stops at once; a second Ctrl+C ends it even mid-cleanup.

    Examples:
      gifsearch check-links
      gifsearch check-links --collection clipgifs --recheck-after 12h -v
      gifsearch check-links --all --json
    """
    from ingest.link_check import LinkCheckOptions, format_link_report

    settings = settings_from_args(args)
    options = LinkCheckOptions(recheck_after_s=args.recheck_after, check_all=args.all)
    report = run_link_check(settings, options, quiet=args.quiet, verbose=args.verbose)
    print(
        json.dumps(link_report_dict(report), indent=2) if args.json else format_link_report(report)
    )
    return 0


def run_link_check(
    settings: Settings, options: LinkCheckOptions | None, quiet: bool, verbose: bool
) -> LinkReport:
    """Check the collection's links with a progress bar (unless quiet), naming each dead or
    unreached GIF on stderr when verbose; notices go to stderr. Shared with ingest."""
    from ingest.link_check import UNREACHED_REASONS, check_links, link_notices

    def on_failure(url: str, reason: str) -> None:
        if not verbose:
            return
        if reason in UNREACHED_REASONS:
            notify(f"{url}: not reached ({reason}); its status is kept")
        else:
            notify(f"{url}: dead ({reason})")

    report = check_links(settings, options, tqdm_progress(not quiet), on_failure)
    for notice in link_notices(report):
        notify(notice)
    return report


def link_report_dict(report: LinkReport) -> dict[str, object]:
    """Return a link check report as JSON-ready data."""
    data = asdict(report)
    data["seconds"] = round(report.seconds, 3)
    return data


def recheck_age(text: str) -> float:
    """argparse type for --recheck-after: an age in days or hours, in seconds."""
    from ingest.link_check import parse_age

    try:
        return parse_age(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_links_parser(commands: Commands) -> None:
    """Register `gifsearch check-links`."""
    parser = add_command(
        commands, "check-links", cmd_check_links, "check which GIF URLs still load", GROUPS
    )
    due = parser.add_mutually_exclusive_group()
    due.add_argument(
        "--recheck-after",
        type=recheck_age,
        default=DEFAULT_RECHECK_AFTER,  # a string: argparse converts it only when used
        metavar="AGE",
        help="re-check a GIF checked longer ago than this: days or hours, e.g. 7d, 36h, 1.5 "
        f"(days) (default: {DEFAULT_RECHECK_AFTER})",
    )
    due.add_argument("--all", action="store_true", help="re-check every GIF, however recent")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="name each dead or unreached GIF"
    )
    add_setting_flags(parser, GROUPS)
