"""The ingest summary as a few readable lines."""

from __future__ import annotations

from ingest.job import IngestReport
from ingest.reader import DROP_REASONS


def format_report(report: IngestReport) -> str:
    """Return the summary: rows read, kept, dropped by reason, embedded, timing, model."""
    dropped = ", ".join(f"{reason} {report.dropped.get(reason, 0)}" for reason in DROP_REASONS)
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
        f"rows/s      {report.rows_per_s:.0f}",
        f"model       {report.model}",
        f"device      {report.device}",
    ]
    return "\n".join(lines)
