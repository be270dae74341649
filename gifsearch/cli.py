"""gifsearch: semantic search over animated GIFs by what happens in them.

Results go to stdout; progress and notices go to stderr, so output pipes cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from ingest.reader import DEFAULT_LIMIT_ROWS
from search_app.cards import match_parts
from search_app.errors import GifSearchError
from search_app.frames import (
    DEFAULT_FRAME_STRATEGY,
    DEFAULT_FRAMES_PER_GIF,
    FRAME_STRATEGIES,
    MAX_FRAMES_PER_GIF,
)
from search_app.records import SearchHit
from search_app.settings import MODEL_CHOICES_HINT, PRECISIONS, Settings, build_settings

PROG = "gifsearch"


def notify(message: str) -> None:
    """Print a notice to stderr."""
    print(f"{PROG}: {message}", file=sys.stderr)


def tqdm_progress(enabled: bool) -> Callable[[int, str], Callable[[int], None]]:
    """Return a progress factory drawing tqdm bars on stderr (or nothing)."""

    def factory(total: int, label: str) -> Callable[[int], None]:
        if not enabled or total == 0:
            return lambda n: None
        from tqdm import tqdm

        unit = "GIFs" if label == "frames" else "rows"
        bar = tqdm(total=total, desc=label, unit=unit, file=sys.stderr, leave=False)

        def tick(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return tick

    return factory


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The model, device and precision options (every command that embeds takes them)."""
    parser.add_argument("--model", help=f"embedding model: {MODEL_CHOICES_HINT} (auto)")
    parser.add_argument("--device", help="auto, cpu, cuda or mps (auto)")
    parser.add_argument("--precision", choices=PRECISIONS, help="auto, fp32, bf16, fp16 (auto)")


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """Options every command that opens the index takes."""
    parser.add_argument("--store", dest="store_dir", help="store directory (chroma_store/)")
    parser.add_argument("--collection", help="collection name (gifs)")
    add_model_options(parser)
    server = parser.add_argument_group("Chroma server (instead of the embedded store)")
    server.add_argument("--chroma-host", help="use the Chroma server on this host")
    server.add_argument("--chroma-port", type=positive_int, help="its port (8000)")
    server.add_argument(
        "--chroma-ssl", action="store_true", default=None, help="connect with HTTPS"
    )
    server.add_argument(
        "--chroma-auth-header", help="send this header, e.g. 'Authorization: Bearer T'"
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Build Settings from the parsed flags over the environment."""
    names = (
        "store_dir",
        "collection",
        "model",
        "device",
        "precision",
        "batch_size",
        "chroma_host",
        "chroma_port",
        "chroma_ssl",
        "chroma_auth_header",
    )
    overrides = {name: getattr(args, name, None) for name in names}
    return build_settings(overrides, os.environ)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest a TGIF-format GIF set (URL<TAB>description) into the collection.

    Only rows not yet in the collection are embedded, so re-running is cheap. With
    --frames (a CLIP model), a few frames of each GIF are downloaded and embedded too;
    a folder of GIF files (no descriptions) is ingested by its frames.

    Examples:
      gifsearch ingest --source my-gifs.tsv --limit 5000 --prune
      gifsearch ingest --model clip --frames --source my-gifs.tsv --collection clipgifs
      gifsearch ingest --model clip --source path/to/gifs/ --collection mygifs
    """
    from ingest.job import IngestOptions, run_ingest
    from ingest.report import format_report

    settings = settings_from_args(args)
    options = IngestOptions(
        source=args.source,
        limit=None if args.all else args.limit,
        seed=args.seed,
        prune=args.prune,
        frames=args.frames,
        frame_strategy=args.frame_strategy,
        frames_per_gif=args.frames_per_gif,
    )

    def on_bad_line(line_no: int, reason: str) -> None:
        if args.verbose:
            notify(f"line {line_no}: dropped ({reason})")

    def on_skipped_gif(url: str, reason: str) -> None:
        if args.verbose:
            notify(f"{url}: skipped ({reason})")

    report = run_ingest(
        options,
        settings,
        progress=tqdm_progress(not args.quiet),
        on_bad_line=on_bad_line,
        on_notice=notify,
        on_skipped_gif=on_skipped_gif,
    )
    print(json.dumps(report_dict(report), indent=2) if args.json else format_report(report))
    return 0


def report_dict(report: object) -> dict[str, object]:
    """Return an ingest report as JSON-ready data."""
    from dataclasses import asdict

    data = asdict(report)  # type: ignore[call-overload]
    data["rows_per_s"] = round(report.rows_per_s, 1)  # type: ignore[attr-defined]
    return data


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
    return replace(hit, description=f"{text}  [matched: {', '.join(match_parts(hit))}]")


def build_parser() -> argparse.ArgumentParser:
    """Return the gifsearch argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ingest = commands.add_parser(
        "ingest",
        help="embed a GIF set into the collection",
        description=cmd_ingest.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_options(ingest)
    ingest.add_argument(
        "--source",
        default="tgif",
        help="a TGIF-format file, an http(s) URL, a folder of GIF files, or 'tgif' "
        "(the release; the bundled sample when offline)",
    )
    size = ingest.add_mutually_exclusive_group()
    size.add_argument(
        "--limit",
        type=positive_int,
        default=DEFAULT_LIMIT_ROWS,
        help=f"rows to keep ({DEFAULT_LIMIT_ROWS})",
    )
    size.add_argument("--all", action="store_true", help="keep every row")
    ingest.add_argument("--seed", type=int, default=0, help="sample seed (0)")
    ingest.add_argument(
        "--prune", action="store_true", help="remove rows of this source no longer present"
    )
    frames = ingest.add_argument_group("frames (CLIP models only)")
    frames.add_argument(
        "--frames",
        action="store_true",
        help="also embed a few frames of each GIF (downloaded; a folder source always is)",
    )
    frames.add_argument(
        "--frame-strategy",
        choices=FRAME_STRATEGIES,
        default=DEFAULT_FRAME_STRATEGY,
        help=f"how frames are picked: most different, or first/middle/last "
        f"({DEFAULT_FRAME_STRATEGY})",
    )
    frames.add_argument(
        "--frames-per-gif",
        type=frames_count,
        default=DEFAULT_FRAMES_PER_GIF,
        help=f"frames embedded per GIF, 1 to {MAX_FRAMES_PER_GIF} ({DEFAULT_FRAMES_PER_GIF})",
    )
    ingest.add_argument("--batch-size", type=positive_int, help="texts per encode batch (256)")
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")
    ingest.add_argument("--quiet", action="store_true", help="no progress bars")
    ingest.add_argument(
        "-v", "--verbose", action="store_true", help="report each dropped line and skipped GIF"
    )
    ingest.set_defaults(func=cmd_ingest)

    search = commands.add_parser(
        "search",
        help="search GIFs by a sentence",
        description=cmd_search.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_options(search)
    what = search.add_mutually_exclusive_group(required=True)
    what.add_argument("query", nargs="?", help="what happens in the GIF")
    what.add_argument("--image", metavar="FILE", help="find GIFs like this image or GIF (CLIP)")
    search.add_argument("-k", type=positive_int, default=10, help="GIFs to return (10)")
    search.add_argument("--json", action="store_true", help="print results as JSON")
    search.set_defaults(func=cmd_search)

    add_optional_commands(commands)
    return parser


def add_optional_commands(commands: argparse._SubParsersAction) -> None:
    """Register the commands that live in other modules (web app, exercises)."""
    from gifsearch.bench_cmd import add_bench_parser
    from gifsearch.eval_cmd import add_eval_parser
    from gifsearch.serve_cmd import add_serve_parser

    add_serve_parser(commands)
    add_eval_parser(commands)
    add_bench_parser(commands)
    from exercises.cli import add_exercise_parsers

    exercises = commands.add_parser("exercises", help="teaching exercises: sgd, attention")
    add_exercise_parsers(
        exercises.add_subparsers(dest="exercise", metavar="EXERCISE", required=True)
    )


def frames_count(text: str) -> int:
    """argparse type for --frames-per-gif: 1 to MAX_FRAMES_PER_GIF."""
    value = positive_int(text)
    if value > MAX_FRAMES_PER_GIF:
        raise argparse.ArgumentTypeError(f"{value} is over {MAX_FRAMES_PER_GIF}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; expected failures print one line and exit 1, bad flags exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except GifSearchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
