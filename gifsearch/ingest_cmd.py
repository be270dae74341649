"""`gifsearch ingest`: embed a GIF set into the collection."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from gifsearch.console import notify, tqdm_progress
from gifsearch.flags import (
    Commands,
    add_command,
    add_sample_flags,
    add_setting_flags,
    positive_int,
    settings_from_args,
)
from gifsearch.links_cmd import DEFAULT_RECHECK_AFTER, link_report_dict, run_link_check
from ingest.source_spec import FieldMapping, SourceFormat
from search_app.embedders.frames import (
    DEFAULT_FRAME_STRATEGY,
    DEFAULT_FRAMES_PER_GIF,
    FRAME_STRATEGIES,
    MAX_FRAMES_PER_GIF,
)
from search_app.errors import GifSearchError, first_line
from search_app.settings import SettingGroup, Settings

if TYPE_CHECKING:
    from ingest.job import IngestReport
    from search_app.embedders.sbert import Embedder

GROUPS = (SettingGroup.INDEX, SettingGroup.MODEL, SettingGroup.EMBED, SettingGroup.NETWORK)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest a GIF set into the collection: TGIF's URL<TAB>description, CSV, JSON Lines.

    Only rows not yet in the collection are embedded, so re-running is cheap. With
    --frames (a CLIP model), a few frames of each GIF are downloaded and embedded too;
    a folder of GIF files (no descriptions) is ingested by its frames. --rebuild drops
    the collection (and its frames) first and ingests into a new one made with the
    current configuration, e.g. for a collection made by an earlier version.

    Examples:
      gifsearch ingest --source my-gifs.tsv --limit 5000 --prune
      gifsearch ingest --source my-gifs.tsv --rebuild
      gifsearch ingest --source export.csv --url-field gif_url --text-field title
      gifsearch ingest --model clip --frames --source my-gifs.tsv --collection clipgifs
      gifsearch ingest --model clip --source path/to/gifs/ --collection mygifs
    """
    from ingest.job import IngestOptions, run_ingest
    from ingest.link_check import format_link_report
    from ingest.report import format_report
    from search_app.embedders.query_embedder import ensure_query_embedder, load_for_settings
    from search_app.store.client import forget_cached_system

    settings = settings_from_args(args)
    options = IngestOptions(
        source=args.source,
        fields=FieldMapping(args.url_field, args.text_field),
        source_format=SourceFormat(args.source_format) if args.source_format else None,
        limit=None if args.all else args.limit,
        seed=args.seed,
        prune=args.prune,
        rebuild=args.rebuild,
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

    loaded: list[Embedder] = []

    def loader(model: str, loader_settings: Settings) -> Embedder:
        embedder = load_for_settings(model, loader_settings)
        loaded.append(embedder)
        return embedder

    report = run_ingest(
        options,
        settings,
        loader=loader,
        progress=tqdm_progress(not args.quiet),
        on_bad_line=on_bad_line,
        on_notice=notify,
        on_skipped_gif=on_skipped_gif,
    )
    if not args.json:
        print(format_report(report))
    if loaded:  # the model is loaded: build the fast query embedder now, once per model
        # The build doesn't need the store: its vector index's memory is given back first
        # (1.7 GB at a million rows; with the build's 0.4 GB on top, the ingest's peak).
        forget_cached_system(settings)
        built = ensure_query_embedder(loaded[0], settings)
        if built:
            notify(built)
    links = None
    if args.check_links:
        links = run_link_check(settings, None, quiet=args.quiet, verbose=args.verbose)
        if not args.json:
            print(f"\nlinks\n{format_link_report(links)}")
    build_derived_after(settings, loaded, args.quiet)
    if args.json:  # one JSON document: the ingest's summary, with the link check's in it
        data = report_dict(report)
        if links is not None:
            data["links"] = link_report_dict(links)
        print(json.dumps(data, indent=2))
    return 0


def build_derived_after(settings: Settings, loaded: list[Embedder], quiet: bool) -> None:
    """Build the collection's categories and completions when the ingest changed it (or
    none are kept), with the model the ingest loaded; a failure is one line on stderr and
    the ingest stands."""
    from search_app.retrieval.derived import ensure_derived, lazy_embedding
    from search_app.store.client import GifStore

    try:
        store = GifStore(settings)
        model = store.require_binding().model
        embed = loaded[0].embed_texts if loaded else lazy_embedding(settings, model)
        _, notice = ensure_derived(store, embed, tqdm_progress(not quiet))
    except GifSearchError as exc:
        notice = f"categories and completions not built: {first_line(exc)}"
    if notice:
        notify(notice)


def report_dict(report: IngestReport) -> dict[str, object]:
    """Return an ingest report as JSON-ready data."""
    data = asdict(report)
    data["rows_per_s"] = round(report.rows_per_s, 1)
    return data


def frames_count(text: str) -> int:
    """argparse type for --frames-per-gif: 1 to MAX_FRAMES_PER_GIF."""
    value = positive_int(text)
    if value > MAX_FRAMES_PER_GIF:
        raise argparse.ArgumentTypeError(f"{value} is over {MAX_FRAMES_PER_GIF}")
    return value


def add_ingest_parser(commands: Commands) -> None:
    """Register `gifsearch ingest`."""
    parser = add_command(
        commands, "ingest", cmd_ingest, "embed a GIF set into the collection", GROUPS
    )
    parser.add_argument(
        "--source",
        default="tgif",
        help="a file (TGIF tsv, csv, jsonl), an http(s) URL, a folder of GIF files, 'tgif' "
        "(the release; the bundled sample when offline) or 'tgif-sample' (default: tgif)",
    )
    parser.add_argument(
        "--format",
        dest="source_format",
        choices=[str(f) for f in SourceFormat],
        help="the file's format (default: by its suffix: .csv, .jsonl/.ndjson, else TGIF's tsv)",
    )
    parser.add_argument(
        "--url-field",
        default=FieldMapping.url_field,
        metavar="NAME",
        help=f"CSV column or JSON key holding the GIF URL (default: {FieldMapping.url_field})",
    )
    parser.add_argument(
        "--text-field",
        default=FieldMapping.text_field,
        metavar="NAME",
        help=f"CSV column or JSON key holding the description (default: {FieldMapping.text_field})",
    )
    add_sample_flags(parser)
    parser.add_argument(
        "--prune", action="store_true", help="remove rows of this source no longer present"
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="drop the collection and its frames, then ingest the source anew into a new "
        "collection made with the current configuration (its rows are not read)",
    )
    frames = parser.add_argument_group("frames (CLIP models only)")
    frames.add_argument(
        "--frames",
        action="store_true",
        help="also embed a few frames of each GIF (downloaded; a folder source always is)",
    )
    frames.add_argument(
        "--frame-strategy",
        choices=FRAME_STRATEGIES,
        default=DEFAULT_FRAME_STRATEGY,
        help="how frames are picked: most different, or first/middle/last "
        f"(default: {DEFAULT_FRAME_STRATEGY})",
    )
    frames.add_argument(
        "--frames-per-gif",
        type=frames_count,
        default=DEFAULT_FRAMES_PER_GIF,
        help=f"frames embedded per GIF, 1 to {MAX_FRAMES_PER_GIF} "
        f"(default: {DEFAULT_FRAMES_PER_GIF})",
    )
    parser.add_argument(
        "--check-links",
        action="store_true",
        help="then check the collection's GIF URLs, as `gifsearch check-links` does "
        f"(those never checked or checked over {DEFAULT_RECHECK_AFTER} ago)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="report each dropped line, skipped GIF and dead link",
    )
    add_setting_flags(parser, GROUPS)
