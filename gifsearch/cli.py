"""gifsearch: semantic search over animated GIFs by what happens in them.

Results go to stdout; progress and notices go to stderr, so output pipes cleanly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gifsearch.bench_cmd import add_bench_parser
from gifsearch.console import PROG, report_error
from gifsearch.eval_cmd import add_eval_parser
from gifsearch.flags import OneLineParser, environment_epilog
from gifsearch.ingest_cmd import add_ingest_parser
from gifsearch.links_cmd import add_links_parser
from gifsearch.search_cmd import add_search_parser
from gifsearch.serve_cmd import ServeSettings, add_serve_parser
from gifsearch.usage_cmd import add_usage_parser
from search_app.errors import GifSearchError
from search_app.settings import Settings

MAX_SHOWN_CHARS = 40  # of an unknown option, in the error


def build_parser() -> argparse.ArgumentParser:
    """Return the gifsearch argument parser with every subcommand."""
    parser = OneLineParser(
        prog=PROG,
        allow_abbrev=False,
        description=__doc__.splitlines()[0],
        epilog=environment_epilog(classes=(Settings, ServeSettings)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in (
        add_ingest_parser,
        add_links_parser,
        add_search_parser,
        add_serve_parser,
        add_usage_parser,
        add_eval_parser,
        add_bench_parser,
    ):
        add_parser(commands)
    from exercises.cli import add_exercise_parsers

    exercises = commands.add_parser(
        "exercises", help="teaching exercises: sgd, attention", allow_abbrev=False
    )
    add_exercise_parsers(
        exercises.add_subparsers(dest="exercise", metavar="EXERCISE", required=True)
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; expected failures print one line and exit 1, bad flags exit 2."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passes_args_on", False):
        # Name the unknown options only: a value may be a secret (a password, say).
        names = [arg.split("=", 1)[0][:MAX_SHOWN_CHARS] for arg in rest if arg.startswith("-")]
        parser.error(f"unrecognized arguments: {' '.join(names) or '(extra values)'}")
    args.rest = rest
    try:
        return int(args.func(args))
    except GifSearchError as exc:
        report_error(str(exc))
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
