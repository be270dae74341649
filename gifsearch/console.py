"""What the CLI prints besides results: notices and errors (one line each) and progress
bars, all on stderr, so results on stdout pipe cleanly."""

from __future__ import annotations

import sys
from collections.abc import Callable

from search_app.text_table import printable

PROG = "gifsearch"

ProgressFactory = Callable[[int, str], Callable[[int], None]]


def notify(message: str) -> None:
    """Print a notice to stderr (one line, control characters shown, not acted on)."""
    print(f"{PROG}: {printable(message)}", file=sys.stderr)


def report_error(message: str) -> None:
    """Print an expected failure as one line on stderr."""
    print(f"{PROG}: error: {printable(message)}", file=sys.stderr)


def tqdm_progress(enabled: bool) -> ProgressFactory:
    """Return a progress factory drawing tqdm bars on stderr (or nothing)."""

    def factory(total: int, label: str) -> Callable[[int], None]:
        if not enabled or total == 0:
            return lambda n: None
        from tqdm import tqdm

        unit = {"frames": "GIFs", "links": "GIFs", "download": "B"}.get(label, "rows")
        bar = tqdm(
            total=total,
            desc=label,
            unit=unit,
            unit_scale=unit == "B",
            file=sys.stderr,
            leave=False,
            smoothing=0.0,  # the ETA from the mean rate so far: chunks vary, the mean holds
        )

        def tick(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return tick

    return factory
