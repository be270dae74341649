"""Sources: local files in every format, http(s) URLs, the TGIF release with its offline
fallback, and what is refused (devices, pipes, other schemes)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from ingest.reader import ReadSummary
from ingest.release import (
    BUNDLED_SOURCE,
    TGIF_SOURCE,
    bundled_sample_path,
    fetch_tgif,
    git_blob_sha1,
)
from ingest.sources import (
    CsvSource,
    FieldMapping,
    GifFolderSource,
    JsonlSource,
    SourceFormat,
    TsvSource,
    open_source,
    read_together,
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
        first = fetch_tgif(tmp_path, 2.0, url=f"{base}/tgif.tsv", blob_sha1=blob_id(BODY))
        second = fetch_tgif(tmp_path, 2.0, url=f"{base}/tgif.tsv", blob_sha1=blob_id(BODY))
    assert first.label == second.label == TGIF_SOURCE
    assert first.path.read_bytes() == BODY
    assert requested == ["/tgif.tsv"]  # the second call used the cache


def test_tgif_failing_its_integrity_check_falls_back_to_the_bundled_sample(
    tmp_path: Path,
) -> None:
    with serve_routes({"/tgif.tsv": BODY}) as (base, _):
        fetched = fetch_tgif(tmp_path, 2.0, url=f"{base}/tgif.tsv", blob_sha1="0" * 40)
    assert fetched.label == BUNDLED_SOURCE
    assert "integrity check" in (fetched.notice or "")
    assert list(tmp_path.glob("**/*")) == []  # no half-checked file left in the cache


def test_unreachable_tgif_falls_back_to_the_bundled_sample_at_once(tmp_path: Path) -> None:
    port = free_port()  # a port nobody listens on
    started = time.monotonic()
    fetched = fetch_tgif(tmp_path, 2.0, url=f"http://127.0.0.1:{port}/tgif.tsv")
    assert time.monotonic() - started < 5
    assert fetched.path == bundled_sample_path()
    assert "can't reach 127.0.0.1" in (fetched.notice or "")


def test_default_tgif_source_resolves_offline_to_the_bundled_sample(tmp_path: Path) -> None:
    source = open_source("tgif", tmp_path, 2.0)
    assert isinstance(source, TsvSource)
    assert source.label in (BUNDLED_SOURCE, TGIF_SOURCE)  # TGIF itself where online
    if source.label == BUNDLED_SOURCE:
        assert "bundled TGIF sample" in (source.notice or "")


def test_the_bundled_sample_is_a_source_by_name(tmp_path: Path) -> None:
    source = open_source("tgif-sample", tmp_path, 1.0)
    assert (source.path, source.label, source.notice) == (
        bundled_sample_path(),
        BUNDLED_SOURCE,
        None,
    )


def test_http_url_source_is_downloaded(tmp_path: Path) -> None:
    with serve_routes({"/set.tsv": BODY}) as (base, _):
        source = open_source(f"{base}/set.tsv", tmp_path, 2.0)
    assert source.label == f"{base}/set.tsv"
    assert source.path.read_bytes() == BODY


def test_an_http_csv_source_is_read_as_csv(tmp_path: Path) -> None:
    with serve_routes({"/set.csv": b"url,description\nhttps://x.test/a.gif,a cat\n"}) as (base, _):
        source = open_source(f"{base}/set.csv", tmp_path, 2.0)
    assert isinstance(source, CsvSource)
    assert [r.description for r in source.read(None, 0).rows] == ["a cat"]


def test_http_404_is_one_line(tmp_path: Path) -> None:
    with serve_routes({}) as (base, _), pytest.raises(SourceError, match="HTTP 404"):
        open_source(f"{base}/missing.tsv", tmp_path, 2.0)


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with serve_routes({"/slow.tsv": BODY}, delay_s=10) as (base, _):
        started = time.monotonic()
        with pytest.raises(NetworkUnavailableError, match="failed"):
            open_source(f"{base}/slow.tsv", tmp_path, 1.0)
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no/such/file.tsv", "does not exist"),
        ("ftp://x.test/set.tsv", "use a local file, an http"),
        ("javascript:alert(1)", "use a local file"),
        ("/dev/zero", "is not a regular file"),
        ("/dev/null", "is not a regular file"),
    ],
    ids=["missing-file", "ftp", "javascript", "dev-zero", "dev-null"],
)
def test_bad_sources_are_one_line_errors(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        open_source(spec, tmp_path, 1.0)


def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "rows.tsv"
    os.mkfifo(fifo)  # opening it for reading would block forever: no writer
    started = time.monotonic()
    with pytest.raises(SourceError, match="not a regular file"):
        open_source(str(fifo), tmp_path, 1.0)
    assert time.monotonic() - started < 1


def test_a_link_to_a_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rows.tsv").symlink_to("/dev/zero")
    with pytest.raises(SourceError, match="not a regular file"):
        open_source(str(tmp_path / "rows.tsv"), tmp_path, 1.0)


def test_a_directory_without_gifs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is a directory"):
        open_source(str(tmp_path), tmp_path, 1.0)


def test_a_directory_of_gifs_is_a_folder_source(tmp_path: Path) -> None:
    (tmp_path / "a.gif").write_bytes(b"GIF89a")
    source = open_source(str(tmp_path), tmp_path, 1.0)
    assert isinstance(source, GifFolderSource) and not source.has_descriptions


CSV = (
    "gif_url,title,likes\n"
    'https://x.test/a.gif,"a dog, then a cat",3\n'
    "https://x.test/b.gif,a man dances,1\n"
    "https://x.test/c.gif,only two cells\n"
    "not-a-url,a bad row,0\n"
    'https://x.test/a.gif,"a dog, then a cat",3\n'
)
JSONL = (
    '{"link": "https://x.test/a.gif", "caption": "a dog runs", "tags": ["dog"]}\n'
    '{"link": "https://x.test/b.gif"}\n'
    "[1, 2, 3]\n"
    "{not json\n"
    '{"link": "https://x.test/c.gif", "caption": "\\u200b\\u2800"}\n'
    '{"link": "https://x.test/d.gif", "caption": "a cat \\u001b[2J sleeps"}\n'
    '{"link": "https://x.test/e.gif", "caption": "a cat sleeps"}\n'
)


@pytest.mark.parametrize(
    ("name", "content", "fields", "kind", "kept", "dropped"),
    [
        (
            "set.csv",
            CSV,
            FieldMapping("gif_url", "title"),
            CsvSource,
            ["a dog, then a cat", "a man dances"],
            {"wrong_columns": 1, "bad_url": 1, "duplicate": 1},
        ),
        (
            "set.jsonl",
            JSONL,
            FieldMapping("link", "caption"),
            JsonlSource,
            ["a dog runs", "a cat sleeps"],
            {"missing_field": 2, "bad_json": 1, "empty_description": 1, "control_chars": 1},
        ),
    ],
    ids=["csv", "jsonl"],
)
def test_csv_and_json_lines_sources_map_their_fields_and_count_bad_rows(
    tmp_path: Path,
    name: str,
    content: str,
    fields: FieldMapping,
    kind: type,
    kept: list[str],
    dropped: dict[str, int],
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    source = open_source(str(path), tmp_path, 1.0, fields)
    assert type(source) is kind
    read = source.read(None, 0)
    assert sorted(r.description for r in read.rows) == sorted(kept)
    assert dict(read.summary.dropped) == dropped
    assert {t.url for t in read.targets} == {r.url for r in read.rows}


def test_a_csv_without_the_mapped_column_says_which_columns_it_has(tmp_path: Path) -> None:
    path = tmp_path / "set.csv"
    path.write_text(CSV)
    source = open_source(str(path), tmp_path, 1.0)  # default fields: url, description
    with pytest.raises(SourceError, match="no column 'url' .*gif_url, likes, title.*--url-field"):
        source.read(None, 0)


def test_the_format_can_be_named_whatever_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text(json.dumps({"url": "https://x.test/a.gif", "description": "a cat"}) + "\n")
    source = open_source(str(path), tmp_path, 1.0, source_format=SourceFormat.JSONL)
    assert isinstance(source, JsonlSource) and len(source.read(None, 0).rows) == 1


def test_several_sources_are_read_as_one_set(tmp_path: Path) -> None:
    tsv = tmp_path / "a.tsv"
    tsv.write_bytes(BODY + b"https://x.test/b.gif\ta cat .\n")
    csv_path = tmp_path / "b.csv"
    csv_path.write_text("url,description\nhttps://x.test/a.gif,a man is dancing .\n")
    rows, summary = read_together(
        [TsvSource(tsv, "a"), CsvSource(csv_path, "b")], limit=None, seed=0
    )
    assert len(rows) == 2 and summary.dropped == {"duplicate": 1}
    assert isinstance(summary, ReadSummary)
