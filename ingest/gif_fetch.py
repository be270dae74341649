"""GIF bytes for the frames job: safe downloads (ingest/http_download.py, checked to be
GIFs) and local GIF files. Every failure is a DownloadError with a reason the job counts;
none is fatal. The download limits' defaults (DownloadLimits) are a GIF's.
"""

from __future__ import annotations

import struct
from pathlib import Path

import httpx

from ingest.http_download import (
    DOWNLOAD_FAILURES,
    Cancel,
    DownloadError,
    DownloadLimits,
    shown,
    stream_download,
)

FETCH_FAILURES = (
    *DOWNLOAD_FAILURES,
    "not_gif",  # a Content-Type other than image/gif, or a body without the GIF signature
    "unreadable",  # a local file that can't be read
)
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
# The signature, then the logical screen's width and height (little-endian uint16 each).
GIF_SCREEN = struct.Struct("<HH")
GIF_HEADER_BYTES = len(GIF_SIGNATURES[0]) + GIF_SCREEN.size
# A server that can't tell what it sends may say octet-stream; the body must still be a GIF.
ACCEPTED_TYPES = ("image/gif", "application/octet-stream", "binary/octet-stream")
REQUEST_HEADERS = {"User-Agent": "gifsearch (frames ingest)", "Accept": "image/gif"}


def read_gif_file(path: Path, max_bytes: int = DownloadLimits.max_bytes) -> bytes:
    """Return a local GIF file's bytes, checking its size and GIF signature."""
    try:
        if path.stat().st_size > max_bytes:
            raise DownloadError("too_large", f"{path} is over {max_bytes:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise DownloadError("unreadable", f"{path}: {exc.strerror or exc}") from None
    check_signature(data, str(path))
    return data


def check_signature(data: bytes, where: str) -> None:
    """Raise DownloadError (not_gif) unless data starts with a GIF signature."""
    if not data.startswith(GIF_SIGNATURES):
        raise DownloadError("not_gif", f"{shown(where)} is not a GIF")


def gif_size(head: bytes) -> tuple[int, int]:
    """Return a GIF's logical screen width and height from its first bytes; (0, 0) when
    they are not a GIF header (0 is what a record keeps for a size never seen)."""
    if len(head) < GIF_HEADER_BYTES or not head.startswith(GIF_SIGNATURES):
        return 0, 0
    width, height = GIF_SCREEN.unpack_from(head, len(GIF_SIGNATURES[0]))
    return int(width), int(height)


def check_gif_type(response: httpx.Response) -> None:
    """Refuse a response whose Content-Type says it is not a GIF."""
    declared = response.headers.get("Content-Type")
    if declared:
        content_type = declared.split(";", 1)[0].strip().lower()
        if content_type not in ACCEPTED_TYPES:
            raise DownloadError("not_gif", f"{shown(str(response.url))} is {content_type[:60]}")


def fetch_gif(url: str, limits: DownloadLimits, cancel: Cancel | None = None) -> bytes:
    """Download one GIF within limits; raise DownloadError saying why it failed."""
    chunks: list[bytes] = []
    stream_download(url, limits, chunks.append, check_gif_type, REQUEST_HEADERS, cancel=cancel)
    data = b"".join(chunks)
    check_signature(data, url)
    return data
