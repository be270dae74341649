"""`gifsearch eval`: measure search quality on GIFs that have several descriptions."""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from ingest.reader import DEFAULT_LIMIT_ROWS
from ingest.sources import BUNDLED_SOURCE as BUNDLED_SAMPLE
from search_app.settings import Settings

PROTOCOL_CHOICES = ("both", "one-per-gif", "all-descriptions")


def cmd_eval(args: argparse.Namespace) -> int:
    """Measure how often a held-out description finds its own GIF (recall@1/5/10, MRR@10).

    For GIFs with several descriptions, one description is the query and the GIF is the
    right answer. Two protocols: one-per-gif indexes one description per GIF (the others
    are queries); all-descriptions indexes every description and hides each query's own
    row. Every query goes through search's own ranking code (SearchEngine) under each
    variant: best description only (the baseline), search's soft-best (marked *), other
    poolings, BM25 and a hybrid. Metrics are given overall and by stratum (how many
    descriptions of the target GIF the query can find), with 95% bootstrap intervals.
    Several --source files are read as one set. The index is built in its own store (a
    temporary one unless --store is given); the collection "gifs" is never touched.
    Results go to stdout, progress to stderr.

    Example: gifsearch eval --source tgif-sample ../shared/data/tgif-multicaption-dev.tsv
    """
    from gifsearch.cli import notify, settings_from_args, tqdm_progress
    from ingest.reader import read_many
    from search_app.search import load_for_settings
    from search_app.writer_lock import hold_writer_lock
    from search_eval.report import format_eval_report
    from search_eval.run import run_evaluation
    from search_eval.splits import Protocol

    settings = settings_from_args(args)
    files = [resolve_eval_source(spec, settings) for spec in args.source]
    rows, _ = read_many(files, None if args.all else args.limit, args.seed)
    labels = [label for _, label in files]
    embedder = load_for_settings(settings.model, settings)
    if embedder.notice:
        notify(embedder.notice)
    notify(f"evaluating {embedder.describe()} on {len(rows)} rows of {' + '.join(labels)}")
    protocols = list(Protocol) if args.protocol == "both" else [Protocol(args.protocol)]
    with tempfile.TemporaryDirectory(prefix="gifsearch-eval-") as scratch:
        store_dir = Path(args.eval_store) if args.eval_store else Path(scratch)
        # Always an embedded store of its own, even when settings name a Chroma server.
        scratch_settings = replace(settings, store_dir=store_dir, chroma_host=None)
        with hold_writer_lock(store_dir):
            report = run_evaluation(
                rows,
                embedder,
                scratch_settings,
                sources=labels,
                protocols=protocols,
                seed=args.seed,
                progress=tqdm_progress(not args.quiet),
            )
    data = report.to_dict()
    if args.out:
        Path(args.out).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        notify(f"wrote {args.out}")
    print(json.dumps(data, indent=2) if args.json else format_eval_report(data))
    return 0


def resolve_eval_source(spec: str, settings: Settings) -> tuple[Path, str]:
    """Return the file to read and its label; 'tgif-sample' is the bundled sample."""
    from gifsearch.cli import notify
    from ingest.sources import bundled_sample_path, resolve_source
    from search_app.errors import SourceError

    if spec == BUNDLED_SAMPLE:
        return bundled_sample_path(), BUNDLED_SAMPLE
    resolved = resolve_source(spec, settings.cache_dir, settings.network_timeout_s)
    if resolved.gif_folder:
        raise SourceError(
            f"source {spec} is a folder of GIFs; eval needs descriptions: give a "
            "TGIF-format file (URL<TAB>description), 'tgif' or 'tgif-sample'"
        )
    if resolved.notice:
        notify(resolved.notice)
    return resolved.path, resolved.label


def add_eval_parser(commands: argparse._SubParsersAction) -> None:
    """Register `gifsearch eval`."""
    from gifsearch.cli import add_model_options, positive_int

    parser = commands.add_parser(
        "eval",
        help="measure search quality (recall@k, MRR) by stratum, against baselines",
        description=cmd_eval.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--source",
        nargs="+",
        default=[BUNDLED_SAMPLE],
        help="one or more of: 'tgif-sample' (the bundled 11,112 rows; default), 'tgif', a "
        "TGIF-format file or an http(s) URL; several are read as one set",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--limit",
        type=positive_int,
        default=DEFAULT_LIMIT_ROWS,
        help=f"rows to keep ({DEFAULT_LIMIT_ROWS})",
    )
    size.add_argument("--all", action="store_true", help="keep every row")
    parser.add_argument("--seed", type=int, default=0, help="sample and split seed (0)")
    add_model_options(parser)
    parser.add_argument("--batch-size", type=positive_int, help="texts per encode batch (256)")
    parser.add_argument(
        "--protocol", choices=PROTOCOL_CHOICES, default="both", help="which protocol (both)"
    )
    parser.add_argument(
        "--store",
        dest="eval_store",
        help="keep the evaluation collections in this directory (default: a temporary one)",
    )
    parser.add_argument("--out", help="also write the results as JSON to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=cmd_eval)
