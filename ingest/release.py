"""Remote files: a TGIF-format set at an http(s) URL, and the TGIF release itself, cached
and checked against its git blob id, with the bundled sample when it can't be reached."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from ingest.http_download import (
    UNREACHED_FAILURES,
    DownloadError,
    DownloadLimits,
    check_web_url,
    shown,
    stream_download,
)
from ingest.reach import names_private_host
from ingest.source_spec import BUNDLED_SOURCE, TGIF_SOURCE
from search_app.embedders.sbert import probe_host
from search_app.errors import IntegrityError, NetworkUnavailableError, SourceError, first_line
from search_app.settings import DEFAULT_DOWNLOAD_DEADLINE_S

ProgressFactory = Callable[[int, str], Callable[[int], None]]

TGIF_URL = "https://raw.githubusercontent.com/raingo/TGIF-Release/master/data/tgif-v1.0.tsv"
TGIF_BLOB_SHA1 = "0e2385be39b9b818006cf8a562d4a8dcf227a5ea"  # git blob id of tgif-v1.0.tsv
TGIF_FILE_NAME = "tgif-v1.0.tsv"
HASH_CHUNK_BYTES = 1 << 16
MAX_SOURCE_BYTES = 1 << 30  # 1 GiB: far above any TGIF-format file (the release is 18.7 MB)


@dataclass(frozen=True)
class Fetched:
    """A local copy of a remote source, the label its rows are stored under, a notice."""

    path: Path
    label: str
    notice: str | None = None


def bundled_sample_path() -> Path:
    """Return the TGIF sample shipped inside the package (see ingest/data/TGIF-LICENSE)."""
    return Path(str(resources.files("ingest") / "data" / "tgif-sample.tsv"))


def git_blob_sha1(path: Path) -> str:
    """Return the git blob id of a file: SHA-1 of b'blob <size>\\0' + its bytes."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_url(
    url: str,
    cache_dir: Path,
    timeout_s: float,
    deadline_s: float = DEFAULT_DOWNLOAD_DEADLINE_S,
    progress: ProgressFactory | None = None,
    allow_private: bool = False,
) -> Fetched:
    """Download a source URL into the cache (every time: a grown set must be seen).

    The user typed it: a URL naming a local or private host as written (localhost,
    192.168.1.5) may reach such addresses without allow_private (ingest/reach.py).
    """
    target = cache_dir / "downloads" / hashlib.sha256(url.encode()).hexdigest()[:16]
    limits = source_limits(url, timeout_s, deadline_s, allow_private)
    download(url, target, limits, progress=progress)
    return Fetched(path=target, label=url)


def source_limits(
    url: str, timeout_s: float, deadline_s: float, allow_private: bool
) -> DownloadLimits:
    """The limits of a source download: MAX_SOURCE_BYTES, and private addresses allowed
    when asked or when the URL names such a host as written (the user typed it)."""
    private = allow_private or names_private_host(url)
    return DownloadLimits(timeout_s, deadline_s, MAX_SOURCE_BYTES, allow_private=private)


def fetch_tgif(
    cache_dir: Path,
    timeout_s: float,
    url: str = TGIF_URL,
    blob_sha1: str = TGIF_BLOB_SHA1,
    deadline_s: float = DEFAULT_DOWNLOAD_DEADLINE_S,
    progress: ProgressFactory | None = None,
    allow_private: bool = False,
) -> Fetched:
    """Return the cached TGIF release, downloading it once; else the bundled sample."""
    cached = cache_dir / TGIF_FILE_NAME
    if cached.is_file():
        return Fetched(path=cached, label=TGIF_SOURCE)
    try:
        limits = source_limits(url, timeout_s, deadline_s, allow_private)  # a mirror may be local
        download(url, cached, limits, expected_blob_sha1=blob_sha1, progress=progress)
    except (NetworkUnavailableError, IntegrityError) as exc:
        return Fetched(
            path=bundled_sample_path(),
            label=BUNDLED_SOURCE,
            notice=f"{exc}; using the bundled TGIF sample (11,112 rows) instead",
        )
    return Fetched(path=cached, label=TGIF_SOURCE)


def download(
    url: str,
    target: Path,
    limits: DownloadLimits,
    expected_blob_sha1: str | None = None,
    progress: ProgressFactory | None = None,
) -> Path:
    """Download url to target atomically, checking size and checksum; progress (if given)
    is asked for a bar of the declared size in bytes, labelled "download".

    The partial file is removed whatever stops the download (an error, a deadline, Ctrl+C).
    """
    try:
        check_web_url(url)
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except DownloadError as exc:
        raise SourceError(f"download failed: {exc.detail}") from None
    except ValueError as exc:  # a port that is not a number
        raise SourceError(f"download failed: {shown(url)}: {first_line(exc)}") from None
    problem = probe_host(parts.hostname or "", port, limits.timeout_s)  # DNS too, bounded
    if problem:
        raise NetworkUnavailableError(f"can't reach {parts.hostname} ({problem})")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            tick: Callable[[int], None] = _no_tick

            def size_bar(response: httpx.Response) -> None:
                nonlocal tick
                length = response.headers.get("Content-Length", "")
                if progress is not None and length.isdigit():
                    tick = progress(int(length), "download")

            def write(chunk: bytes) -> None:
                out.write(chunk)
                tick(len(chunk))

            stream_download(url, limits, write, size_bar)
        if expected_blob_sha1 and git_blob_sha1(tmp) != expected_blob_sha1:
            raise IntegrityError(f"download of {shown(url)} failed its integrity check")
        tmp.replace(target)
    except DownloadError as exc:
        kind = NetworkUnavailableError if exc.reason in UNREACHED_FAILURES else SourceError
        raise kind(f"download failed: {exc.detail}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return target


def _no_tick(n: int) -> None:
    return None
