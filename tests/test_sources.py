"""Sources: local files, http(s) URLs and the TGIF release with its offline fallback."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from ingest.sources import (
    BUNDLED_SOURCE,
    TGIF_SOURCE,
    bundled_sample_path,
    git_blob_sha1,
    resolve_source,
    resolve_tgif,
)
from search_app.errors import NetworkUnavailableError, SourceError
from tests.chroma_server import free_port
from tests.local_http import serve_routes

BODY = b"https://x.test/a.gif\ta man is dancing .\n"


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_git_blob_id_matches_gits_definition(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello\n")
    assert git_blob_sha1(path) == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object


def test_bundled_sample_is_the_shared_sample_with_its_license() -> None:
    sample = bundled_sample_path()
    assert sum(1 for _ in sample.open("rb")) == 11_112
    assert "Yahoo" in (sample.parent / "TGIF-LICENSE").read_text()


def test_tgif_is_downloaded_once_checked_and_cached(tmp_path: Path) -> None:
    with serve_routes({"/tgif.tsv": BODY}) as (base, requested):
        first = resolve_tgif(tmp_path, 2.0, url=f"{base}/tgif.tsv", blob_sha1=blob_id(BODY))
        second = resolve_tgif(tmp_path, 2.0, url=f"{base}/tgif.tsv", blob_sha1=blob_id(BODY))
    assert first.label == second.label == TGIF_SOURCE
    assert first.path.read_bytes() == BODY
    assert requested == ["/tgif.tsv"]  # the second call used the cache


def test_tgif_failing_its_integrity_check_falls_back_to_the_bundled_sample(
    tmp_path: Path,
) -> None:
    with serve_routes({"/tgif.tsv": BODY}) as (base, _):
        resolved = resolve_tgif(tmp_path, 2.0, url=f"{base}/tgif.tsv", blob_sha1="0" * 40)
    assert resolved.label == BUNDLED_SOURCE
    assert "integrity check" in (resolved.notice or "")
    assert list(tmp_path.glob("**/*.tsv")) == []  # no half-checked file left in the cache


def test_unreachable_tgif_falls_back_to_the_bundled_sample_at_once(tmp_path: Path) -> None:
    port = free_port()  # a port nobody listens on
    started = time.monotonic()
    resolved = resolve_tgif(tmp_path, 2.0, url=f"http://127.0.0.1:{port}/tgif.tsv")
    assert time.monotonic() - started < 5
    assert resolved.path == bundled_sample_path()
    assert "can't reach 127.0.0.1" in (resolved.notice or "")


def test_default_tgif_source_resolves_offline_to_the_bundled_sample(tmp_path: Path) -> None:
    resolved = resolve_source("tgif", tmp_path, 2.0)
    assert resolved.label in (BUNDLED_SOURCE, TGIF_SOURCE)  # TGIF itself where online
    if resolved.label == BUNDLED_SOURCE:
        assert "bundled TGIF sample" in (resolved.notice or "")


def test_http_url_source_is_downloaded(tmp_path: Path) -> None:
    with serve_routes({"/set.tsv": BODY}) as (base, _):
        resolved = resolve_source(f"{base}/set.tsv", tmp_path, 2.0)
    assert resolved.label == f"{base}/set.tsv"
    assert resolved.path.read_bytes() == BODY


def test_http_404_is_one_line(tmp_path: Path) -> None:
    with serve_routes({}) as (base, _), pytest.raises(SourceError, match="HTTP 404"):
        resolve_source(f"{base}/missing.tsv", tmp_path, 2.0)


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with serve_routes({"/slow.tsv": BODY}, delay_s=10) as (base, _):
        started = time.monotonic()
        with pytest.raises(NetworkUnavailableError, match="failed"):
            resolve_source(f"{base}/slow.tsv", tmp_path, 1.0)
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no/such/file.tsv", "does not exist"),
        ("ftp://x.test/set.tsv", "use a local file, an http"),
        ("javascript:alert(1)", "use a local file"),
    ],
    ids=["missing-file", "ftp", "javascript"],
)
def test_bad_sources_are_one_line_errors(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        resolve_source(spec, tmp_path, 1.0)


def test_directory_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is a directory"):
        resolve_source(str(tmp_path), tmp_path, 1.0)
