"""`gifsearch eval`: measure search quality on GIFs that have several descriptions."""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from gifsearch.console import ProgressFactory, notify, tqdm_progress
from gifsearch.flags import (
    Commands,
    add_command,
    add_sample_flags,
    add_setting_flags,
    request_number,
    settings_from_args,
)
from ingest.source_spec import BUNDLED_SOURCE as BUNDLED_SAMPLE
from search_app.errors import SourceError
from search_app.retrieval.request import check_fraction
from search_app.settings import SettingGroup, Settings

if TYPE_CHECKING:
    from ingest.sources import Source

GROUPS = (SettingGroup.MODEL, SettingGroup.EMBED, SettingGroup.NETWORK)

PROTOCOL_CHOICES = ("both", "one-per-gif", "all-descriptions", "exclusion", "share-replay")


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
    from ingest.sources import read_together
    from search_app.embedders.query_embedder import load_for_settings
    from search_app.store.lock import hold_writer_lock
    from search_eval.exclusion import evaluate_exclusion, format_exclusion
    from search_eval.report import format_eval_report
    from search_eval.run import run_evaluation
    from search_eval.sharing import evaluate_share_replay, format_share_replay
    from search_eval.splits import Protocol

    settings = settings_from_args(args)
    progress = tqdm_progress(not args.quiet)
    sources = [open_eval_source(spec, settings, progress) for spec in args.source]
    rows, _ = read_together(sources, None if args.all else args.limit, args.seed)
    labels = [source.label for source in sources]
    embedder = load_for_settings(settings.model, settings)
    if embedder.notice:
        notify(embedder.notice)
    notify(f"evaluating {embedder.describe()} on {len(rows)} rows of {' + '.join(labels)}")
    with tempfile.TemporaryDirectory(prefix="gifsearch-eval-") as scratch:
        store_dir = Path(args.eval_store) if args.eval_store else Path(scratch)
        # Always an embedded store of its own, even when settings name a Chroma server.
        scratch_settings = replace(settings, store_dir=store_dir, chroma_host=None)
        with hold_writer_lock(store_dir):
            if args.protocol == "exclusion":
                data = evaluate_exclusion(rows, embedder, scratch_settings, progress=progress)
                data["sources"] = labels
                text = format_exclusion(data)
            elif args.protocol == "share-replay":
                data = evaluate_share_replay(
                    rows,
                    embedder,
                    scratch_settings,
                    seed=args.seed,
                    progress=progress,
                    shared_fraction=args.share_fraction,
                )
                data["sources"] = labels
                text = format_share_replay(data)
            else:
                protocols = list(Protocol) if args.protocol == "both" else [Protocol(args.protocol)]
                report = run_evaluation(
                    rows,
                    embedder,
                    scratch_settings,
                    sources=labels,
                    protocols=protocols,
                    seed=args.seed,
                    progress=progress,
                )
                data = report.to_dict()
                text = format_eval_report(data)
    if args.out:
        Path(args.out).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        notify(f"wrote {args.out}")
    print(json.dumps(data, indent=2) if args.json else text)
    return 0


def open_eval_source(spec: str, settings: Settings, progress: ProgressFactory) -> Source:
    """Open a --source for eval: it needs descriptions, so a folder of GIFs is refused."""
    from ingest.sources import open_source

    source = open_source(
        spec,
        settings.cache_dir,
        settings.network_timeout_s,
        deadline_s=settings.download_deadline_s,
        progress=progress,
        allow_private=settings.allow_private_urls,
    )
    if not source.has_descriptions:
        raise SourceError(
            f"source {spec} is a folder of GIFs; eval needs descriptions: give a "
            "TGIF-format file (URL<TAB>description), 'tgif' or 'tgif-sample'"
        )
    if source.notice:
        notify(source.notice)
    return source


def add_eval_parser(commands: Commands) -> None:
    """Register `gifsearch eval`."""
    parser = add_command(
        commands,
        "eval",
        cmd_eval,
        "measure search quality (recall@k, MRR) by stratum, against baselines",
        GROUPS,
    )
    parser.add_argument(
        "--source",
        nargs="+",
        default=[BUNDLED_SAMPLE],
        help="one or more of: 'tgif-sample' (the bundled 11,112 rows), 'tgif', a "
        "TGIF-format file or an http(s) URL; several are read as one set "
        f"(default: {BUNDLED_SAMPLE})",
    )
    add_sample_flags(parser)
    parser.add_argument(
        "--protocol",
        choices=PROTOCOL_CHOICES,
        default="both",
        help='which protocol (default: both); exclusion measures "X -Y" queries, '
        "share-replay whether a shared GIF ranks higher for the next close query",
    )
    parser.add_argument(
        "--store",
        dest="eval_store",
        metavar="DIR",
        help="keep the evaluation collections in this directory (default: a temporary one)",
    )
    parser.add_argument(
        "--share-fraction",
        type=request_number(float, check_fraction, "share fraction", 0.01, 1.0),
        default=0.5,
        metavar="F",
        help="share-replay: the share of GIFs with 2+ descriptions that are shared (default: 0.5)",
    )
    parser.add_argument("--out", help="also write the results as JSON to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_setting_flags(parser, GROUPS)
