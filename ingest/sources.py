"""Sources: turn --source (a file, an http(s) URL, a folder of GIFs or 'tgif') into a
local file or folder to read."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from ingest.gif_folder import has_gif_files
from search_app.embedder import probe_host
from search_app.errors import IntegrityError, NetworkUnavailableError, SourceError

TGIF_SOURCE = "tgif"
TGIF_URL = "https://raw.githubusercontent.com/raingo/TGIF-Release/master/data/tgif-v1.0.tsv"
TGIF_BLOB_SHA1 = "0e2385be39b9b818006cf8a562d4a8dcf227a5ea"  # git blob id of tgif-v1.0.tsv
TGIF_FILE_NAME = "tgif-v1.0.tsv"
BUNDLED_SOURCE = "tgif-sample"
DOWNLOAD_CHUNK_BYTES = 1 << 16
MAX_DOWNLOAD_BYTES = 2 << 30  # 2 GiB: far above any TGIF-format file, below a full disk


@dataclass(frozen=True)
class ResolvedSource:
    """A local file (or GIF folder) to read, the label its rows are stored under, a notice."""

    path: Path
    label: str
    notice: str | None = None
    gif_folder: bool = False


def bundled_sample_path() -> Path:
    """Return the TGIF sample shipped inside the package (see ingest/data/TGIF-LICENSE)."""
    return Path(str(resources.files("ingest") / "data" / "tgif-sample.tsv"))


def git_blob_sha1(path: Path) -> str:
    """Return the git blob id of a file: SHA-1 of b'blob <size>\\0' + its bytes."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(DOWNLOAD_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_source(spec: str, cache_dir: Path, timeout_s: float) -> ResolvedSource:
    """Resolve a --source value; 'tgif' falls back to the bundled sample when offline."""
    if spec == TGIF_SOURCE:
        return resolve_tgif(cache_dir, timeout_s)
    if spec.startswith(("http://", "https://")):
        target = cache_dir / "downloads" / hashlib.sha256(spec.encode()).hexdigest()[:16]
        download(spec, target, timeout_s)
        return ResolvedSource(path=target, label=spec)
    if "://" in spec or spec.startswith(("javascript:", "data:")):
        raise SourceError(f"source {spec!r}: use a local file, an http(s) URL or 'tgif'")
    path = Path(spec).expanduser()
    if not path.exists():
        raise SourceError(f"source file {spec} does not exist")
    if path.is_dir():
        if not has_gif_files(path):
            raise SourceError(
                f"source {spec} is a directory with no .gif files: "
                "give a TGIF-format .tsv file or a folder of GIFs"
            )
        return ResolvedSource(path=path, label=str(path.resolve()), gif_folder=True)
    return ResolvedSource(path=path, label=str(path.resolve()))


def resolve_tgif(
    cache_dir: Path, timeout_s: float, url: str = TGIF_URL, blob_sha1: str = TGIF_BLOB_SHA1
) -> ResolvedSource:
    """Return the cached TGIF release, downloading it once; else the bundled sample."""
    cached = cache_dir / TGIF_FILE_NAME
    if cached.exists():
        return ResolvedSource(path=cached, label=TGIF_SOURCE)
    try:
        download(url, cached, timeout_s, expected_blob_sha1=blob_sha1)
    except (NetworkUnavailableError, IntegrityError) as exc:
        return ResolvedSource(
            path=bundled_sample_path(),
            label=BUNDLED_SOURCE,
            notice=f"{exc}; using the bundled TGIF sample (11,112 rows) instead",
        )
    return ResolvedSource(path=cached, label=TGIF_SOURCE)


def download(
    url: str, target: Path, timeout_s: float, expected_blob_sha1: str | None = None
) -> Path:
    """Download url to target atomically with a progress bar, checking size and checksum."""
    host = urlsplit(url).hostname or ""
    port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    problem = probe_host(host, port, timeout_s)
    if problem:
        raise NetworkUnavailableError(f"can't reach {host} ({problem})")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_response(url, out, timeout_s)
        if expected_blob_sha1 and git_blob_sha1(tmp) != expected_blob_sha1:
            raise IntegrityError(f"download of {url} failed its integrity check")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _copy_response(url: str, out: object, timeout_s: float) -> None:
    from tqdm import tqdm

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (http(s) only)
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc="download", file=sys.stderr
            ) as bar:
                size = 0
                for chunk in iter(lambda: response.read(DOWNLOAD_CHUNK_BYTES), b""):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise SourceError(f"download of {url} is larger than 2 GiB; stopped")
                    out.write(chunk)  # type: ignore[attr-defined]
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        raise SourceError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkUnavailableError(f"download of {url} failed: {reason}") from None
