"""Remote files: a TGIF-format set at an http(s) URL, and the TGIF release itself, cached
and checked against its git blob id, with the bundled sample when it can't be reached."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ingest.http_download import DownloadError, DownloadLimits, shown, stream_download
from ingest.source_spec import BUNDLED_SOURCE, TGIF_SOURCE
from search_app.embedder import probe_host
from search_app.errors import IntegrityError, NetworkUnavailableError, SourceError

TGIF_URL = "https://raw.githubusercontent.com/raingo/TGIF-Release/master/data/tgif-v1.0.tsv"
TGIF_BLOB_SHA1 = "0e2385be39b9b818006cf8a562d4a8dcf227a5ea"  # git blob id of tgif-v1.0.tsv
TGIF_FILE_NAME = "tgif-v1.0.tsv"
HASH_CHUNK_BYTES = 1 << 16
MAX_SOURCE_BYTES = 1 << 30  # 1 GiB: far above any TGIF-format file (the release is 18.7 MB)
SOURCE_DEADLINE_S = 30 * 60.0  # a whole source download, even at 1 MB/s for the biggest
NETWORK_REASONS = ("timeout", "network_error")  # worth falling back to the bundled sample


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


def fetch_url(url: str, cache_dir: Path, timeout_s: float) -> Fetched:
    """Download a source URL into the cache (every time: a grown set must be seen)."""
    target = cache_dir / "downloads" / hashlib.sha256(url.encode()).hexdigest()[:16]
    download(url, target, timeout_s)
    return Fetched(path=target, label=url)


def fetch_tgif(
    cache_dir: Path, timeout_s: float, url: str = TGIF_URL, blob_sha1: str = TGIF_BLOB_SHA1
) -> Fetched:
    """Return the cached TGIF release, downloading it once; else the bundled sample."""
    cached = cache_dir / TGIF_FILE_NAME
    if cached.is_file():
        return Fetched(path=cached, label=TGIF_SOURCE)
    try:
        download(url, cached, timeout_s, expected_blob_sha1=blob_sha1)
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
    timeout_s: float,
    expected_blob_sha1: str | None = None,
    limits: DownloadLimits | None = None,
) -> Path:
    """Download url to target atomically with a progress bar, checking size and checksum.

    The partial file is removed whatever stops the download (an error, a deadline, Ctrl+C).
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    problem = probe_host(parts.hostname or "", port, timeout_s)  # DNS included, bounded
    if problem:
        raise NetworkUnavailableError(f"can't reach {parts.hostname} ({problem})")
    limits = limits or DownloadLimits(timeout_s, SOURCE_DEADLINE_S, MAX_SOURCE_BYTES)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, _progress_bar() as bar:

            def size_bar(response: object) -> None:
                length = response.headers.get("Content-Length", "")  # type: ignore[attr-defined]
                bar.total = int(length) if length.isdigit() else None

            def write(chunk: bytes) -> None:
                out.write(chunk)
                bar.update(len(chunk))

            stream_download(url, limits, write, size_bar)
        if expected_blob_sha1 and git_blob_sha1(tmp) != expected_blob_sha1:
            raise IntegrityError(f"download of {shown(url)} failed its integrity check")
        tmp.replace(target)
    except DownloadError as exc:
        kind = NetworkUnavailableError if exc.reason in NETWORK_REASONS else SourceError
        raise kind(f"download failed: {exc.detail}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return target


def _progress_bar() -> Any:
    from tqdm import tqdm

    return tqdm(unit="B", unit_scale=True, desc="download", file=sys.stderr, leave=False)
