"""The ingest summary as a few readable lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ingest.frame_job import DECODE_ERROR
from ingest.gif_fetch import FETCH_FAILURES
from ingest.job import IngestReport, Stage
from ingest.reader import DROP_REASONS

GIF_FAILURES = (*FETCH_FAILURES, DECODE_ERROR)  # in the order the summary prints them


def format_counts(counts: Mapping[str, int], order: Sequence[str]) -> str:
    """Return 'reason n, ...' for every reason in order, zeros included."""
    return ", ".join(f"{reason} {counts.get(reason, 0)}" for reason in order)


def format_report(report: IngestReport) -> str:
    """Return the summary: rows read, kept, dropped by reason, embedded, timing, model."""
    dropped = format_counts(report.dropped, DROP_REASONS)
    lines = [
        f"source      {report.source}",
        f"collection  {report.collection}",
        f"rows read   {report.rows_read}",
        f"kept        {report.kept} ({report.sampled_out} left out by --limit)",
        f"dropped     {sum(report.dropped.values())} ({dropped})",
        f"embedded    {report.embedded}",
        f"unchanged   {report.unchanged}",
        f"upserted    {report.upserted}",
        f"pruned      {report.pruned}",
        f"seconds     {report.seconds:.2f} (model load {report.load_seconds:.2f})",
        f"stages      {format_stages(report.stages)}",
        f"rows/s      {report.rows_per_s:.0f}",
        f"model       {report.model}",
        f"device      {report.device}",
    ]
    if report.frame_set:
        lines += format_frames(report)
    return "\n".join(lines)


def format_stages(stages: Mapping[str, float]) -> str:
    """Return 'stage 0.00 s, ...' for the stages a run went through, in Stage order."""
    return ", ".join(f"{stage} {stages[stage]:.2f} s" for stage in Stage if stage in stages)


def format_frames(report: IngestReport) -> list[str]:
    """Return the frames lines: GIFs framed, frames, unchanged, failures, time per GIF."""
    failed = sum(report.gifs_failed.values())
    reasons = format_counts(report.gifs_failed, GIF_FAILURES)
    per_gif = report.frame_seconds / report.gifs_framed if report.gifs_framed else 0.0
    return [
        f"frames      {report.frames_embedded} from {report.gifs_framed} GIFs "
        f"({report.frame_set}; {report.gifs_framed_before} GIFs already had them)",
        f"GIFs failed {failed} ({reasons})",
        f"frame time  {report.frame_seconds:.2f} s ({per_gif:.2f} s per GIF)",
    ]
