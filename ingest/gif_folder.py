"""A folder of GIF files as an ingest source: every *.gif under it is one GIF, no descriptions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ingest.reader import seeded_hash

GIF_SUFFIX = ".gif"


def iter_gif_files(folder: Path) -> Iterator[Path]:
    """Yield the .gif files under folder (any letter case), without following links."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if name.lower().endswith(GIF_SUFFIX) and path.is_file():
                yield path


def has_gif_files(folder: Path) -> bool:
    """Return whether folder holds at least one .gif file."""
    return next(iter_gif_files(folder), None) is not None


def sample_gif_files(folder: Path, limit: int | None, seed: int) -> tuple[list[Path], int]:
    """Return up to limit of the folder's GIF files (a seeded hash sample) and how many exist.

    Like the TSV sample, it is deterministic and a grown folder keeps almost the same pick.
    """
    files = list(iter_gif_files(folder))
    if limit is None or len(files) <= limit:
        return files, len(files)
    picked = sorted(files, key=lambda path: seeded_hash(str(path.resolve()), seed))[:limit]
    return sorted(picked), len(files)


def file_url(path: Path) -> str:
    """Return the file:// URL a local GIF is stored under (the web app never serves it)."""
    return path.resolve().as_uri()
