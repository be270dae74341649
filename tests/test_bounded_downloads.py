"""Every download reads its body through one bounded reader: compression bombs of every
encoding (alone and stacked) against the link checker, the frames download and the source
download, served by a real local HTTP server; what the downloads may reach; Ctrl+C's cut.

Memory itself is measured by benchmarks/bomb_rss.py (peak RSS per encoding); here, what
each download answers, and that a bomb is unpacked no further than its reader asks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.content_decoding import (
    ACCEPT_ENCODING,
    EncodingError,
    body_encoding,
    decoded_pieces,
)
from ingest.gif_fetch import fetch_gif, gif_size
from ingest.http_download import (
    CANCELLED,
    Cancel,
    DownloadError,
    DownloadLimits,
    stream_download,
)
from ingest.link_check import check_link, probe_link
from ingest.reach import is_public, names_private_host
from ingest.release import download
from search_app.errors import ConfigError, SourceError
from tests.frames.conftest import SET_OF_GIFS, gif_route, redirect, trickle_headers_route
from tests.hostile_http import (
    BOMB_BYTES,
    BOMBS,
    GIF_PREFIX,
    bomb_body,
    encode,
    encoded_route,
    no_location,
    zstd_body,
)
from tests.local_http import Route, serve_handlers

GIF = SET_OF_GIFS["two-scenes.gif"]  # a real GIF made with Pillow (64 x 48)
LIMITS = DownloadLimits(timeout_s=2.0, deadline_s=10.0, allow_private=True)
SINGLE = [name for name, (header, _) in BOMBS.items() if "," not in header]
STACKED = [name for name, (header, _) in BOMBS.items() if "," in header]
SOURCE_CAP = 1024 * 1024  # a source download's cap in these tests (the real one is 1 GiB)


def bomb_route(name: str, prefix: bytes = b"") -> Route:
    header, body = bomb_body(name, prefix)
    return encoded_route(body, header)


def routes() -> dict[str, Route]:
    """Each bomb twice (a GIF header first, and zeros only), real GIFs in each encoding,
    encodings that are not offered or damaged, and redirects."""
    table: dict[str, Route] = {}
    for name in BOMBS:
        table[f"/bomb-{name}.gif"] = bomb_route(name, GIF_PREFIX)
        table[f"/zeros-{name}.gif"] = bomb_route(name)
    for encoding in ("gzip", "deflate", "raw-deflate", "br"):
        header = "deflate" if encoding == "raw-deflate" else encoding
        table[f"/real-{encoding}.gif"] = encoded_route(encode(GIF, encoding), header)
    table["/zstd.gif"] = encoded_route(zstd_body(), "zstd")
    table["/compress.gif"] = encoded_route(GIF, "compress")
    table["/damaged-gzip.gif"] = encoded_route(b"\x1f\x8b" + bytes(40), "gzip")
    table["/plain.gif"] = gif_route(GIF)
    table["/no-location.gif"] = no_location
    table["/trickle-headers.gif"] = trickle_headers_route(every_s=0.5)
    return table


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_handlers(routes()) as (base, _):
        yield base


# --- The decoder alone: real GIF bytes round-trip, and a bomb is unpacked lazily


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "br"])
@pytest.mark.parametrize("raw_chunk", [1, 7, 4096, 1 << 20], ids=lambda n: f"chunks-of-{n}")
def test_a_real_gif_decodes_whole_in_capped_pieces(encoding: str, raw_chunk: int) -> None:
    encoded = encode(GIF, encoding)
    raw = [encoded[i : i + raw_chunk] for i in range(0, len(encoded), raw_chunk)]
    header = "deflate" if encoding == "raw-deflate" else encoding
    pieces = list(decoded_pieces(raw, body_encoding(header), 256))
    assert b"".join(pieces) == GIF
    most = 256 if encoding != "br" else 64 * 1024  # brotli's buffer grows in 32 KiB steps
    assert max(len(piece) for piece in pieces) <= most


@pytest.mark.parametrize("name", SINGLE)
def test_a_bomb_is_unpacked_no_further_than_it_is_read(name: str) -> None:
    header, body = bomb_body(name)
    read = 0
    for piece in decoded_pieces([body], body_encoding(header), 64 * 1024):
        read += len(piece)
        if read >= 1024 * 1024:
            break
    assert 1024 * 1024 <= read <= 1024 * 1024 + 64 * 1024  # 1 MiB of its 64, a piece over


@pytest.mark.parametrize(
    ("header", "expected"),
    [("", "identity"), ("identity", "identity"), ("GZIP", "gzip"), ("x-gzip", "gzip"),
     (" br ", "br"), ("deflate", "deflate"), ("identity, gzip", "gzip"),
     ("gzip, gzip", "stacked"), ("br, gzip", "stacked"), ("zstd", "not offered"),
     ("compress", "not offered"), ("gzip, x" * 1000, "stacked")],
    ids=["none", "identity", "upper-case", "x-gzip", "spaces", "deflate", "with-identity",
         "gzip-gzip", "br-gzip", "zstd", "compress", "a-thousand"],
)  # fmt: skip
def test_one_offered_encoding_is_taken_and_the_rest_refused(header: str, expected: str) -> None:
    if expected in ("stacked", "not offered"):
        with pytest.raises(EncodingError, match=expected):
            body_encoding(header)
    else:
        assert body_encoding(header) == expected
    assert "zstd" not in ACCEPT_ENCODING  # never offered: no bounded zstd decoder here


# --- Through the downloads: the link checker, the frames download, the source download


@pytest.mark.parametrize("name", list(BOMBS))
def test_the_link_checker_reads_a_bombs_first_bytes_only(server: str, name: str) -> None:
    started = time.monotonic()
    gif_first = probe_link(f"{server}/bomb-{name}.gif", LIMITS)
    zeros_first = check_link(f"{server}/zeros-{name}.gif", LIMITS)
    if name in STACKED:
        assert (gif_first.reason, zeros_first) == ("bad_encoding", "bad_encoding")
    else:
        assert gif_first.reason == "" and (gif_first.width, gif_first.height) == (320, 240)
        assert zeros_first == "not_gif"
    assert time.monotonic() - started < 10  # nothing close to 64 MiB was unpacked


@pytest.mark.parametrize("name", list(BOMBS))
def test_the_frames_download_stops_a_bomb_at_its_cap(server: str, name: str) -> None:
    with pytest.raises(DownloadError) as failed:
        fetch_gif(f"{server}/bomb-{name}.gif", LIMITS)
    expected = "bad_encoding" if name in STACKED else "too_large"
    assert failed.value.reason == expected
    if expected == "too_large":
        assert f"over {LIMITS.max_bytes:,} bytes" in failed.value.detail


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "br"])
def test_a_real_gif_in_any_offered_encoding_downloads_whole(server: str, encoding: str) -> None:
    assert fetch_gif(f"{server}/real-{encoding}.gif", LIMITS) == GIF
    assert check_link(f"{server}/real-{encoding}.gif", LIMITS) == ""


@pytest.mark.parametrize(
    ("path", "says"),
    [("/zstd.gif", "'zstd' was not offered"), ("/compress.gif", "'compress' was not offered"),
     ("/damaged-gzip.gif", "the gzip body is damaged")],
    ids=["zstd", "compress", "damaged-gzip"],
)  # fmt: skip
def test_other_encodings_are_refused_in_one_line(server: str, path: str, says: str) -> None:
    with pytest.raises(DownloadError) as failed:
        fetch_gif(server + path, LIMITS)
    assert failed.value.reason == "bad_encoding" and says in str(failed.value)
    assert "\n" not in str(failed.value)
    assert check_link(server + path, LIMITS) == "bad_encoding"


@pytest.mark.parametrize("name", list(BOMBS))
def test_the_source_download_stops_a_bomb_at_its_cap_and_leaves_no_file(
    server: str, name: str, tmp_path: Path
) -> None:
    limits = DownloadLimits(2.0, 10.0, SOURCE_CAP, allow_private=True)
    with pytest.raises(SourceError) as failed:
        download(f"{server}/bomb-{name}.gif", tmp_path / "rows.tsv", limits)
    says = "stacked encodings" if name in STACKED else f"is over {SOURCE_CAP:,} bytes"
    assert says in str(failed.value) and "\n" not in str(failed.value)
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_a_redirect_without_a_location_says_so(server: str) -> None:
    with pytest.raises(DownloadError, match="redirects without a Location") as failed:
        fetch_gif(f"{server}/no-location.gif", LIMITS)
    assert failed.value.reason == "bad_redirect"


@pytest.mark.parametrize(
    "field", [{"timeout_s": float("inf")}, {"timeout_s": float("nan")}, {"timeout_s": 1e308},
              {"deadline_s": float("inf")}, {"deadline_s": 1e300}, {"deadline_s": 0.0}],
    ids=["timeout-inf", "timeout-nan", "timeout-huge", "deadline-inf", "deadline-huge",
         "deadline-zero"],
)  # fmt: skip
def test_limits_refuse_waits_no_timer_can_make(field: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="is not from 0 to"):
        DownloadLimits(**field)


# --- What a download may reach


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2606:4700::1111", True), ("127.0.0.1", False), ("127.9.9.9", False),
     ("10.1.2.3", False), ("172.16.0.9", False), ("192.168.1.5", False),
     ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),
     ("224.0.0.1", False), ("255.255.255.255", False), ("::1", False), ("fe80::1%eth0", False),
     ("fc00::5", False), ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", True),
     ("not an address", False)],
)  # fmt: skip
def test_only_public_addresses_count_as_public(address: str, public: bool) -> None:
    assert is_public(address) is public


@pytest.mark.parametrize(
    ("url", "private"),
    [("http://localhost:8000/a.tsv", True), ("http://LOCALHOST./a.tsv", True),
     ("http://app.localhost/a.tsv", True), ("http://127.0.0.1:9/a.tsv", True),
     ("http://[::1]:9/a.tsv", True), ("http://192.168.1.5/a.tsv", True),
     ("https://example.com/a.tsv", False), ("http://8.8.8.8/a.tsv", False),
     ("http://nas.lan/a.tsv", False), ("http://[bad/a.tsv", False)],
)  # fmt: skip
def test_a_typed_url_names_a_private_host_only_as_written(url: str, private: bool) -> None:
    assert names_private_host(url) is private


def test_loopback_is_refused_by_default_and_reached_when_allowed(server: str) -> None:
    """The issue's reproduction: a GIF URL (or a redirect) to this machine's own services
    is not fetched unless the user allows private addresses."""
    closed = DownloadLimits(timeout_s=2.0, deadline_s=10.0)
    service = {"/secret": gif_route(b"GIF89a local service")}
    with (
        serve_handlers(service) as (other, asked),
        serve_handlers({"/hop.gif": redirect(f"{other}/secret")}) as (first, _),
    ):
        for url in (f"{other}/secret", f"{first}/hop.gif"):
            with pytest.raises(DownloadError) as refused:
                fetch_gif(url, closed)
            assert refused.value.reason == "private_address"
            assert "127.0.0.1 is a loopback or private address" in str(refused.value)
            assert "GIFSEARCH_ALLOW_PRIVATE_URLS=1" in str(refused.value)
            assert check_link(url, closed) == "private_address"
        assert asked == []  # the local service was never asked for anything
        assert check_link(f"{first}/hop.gif", LIMITS) == ""  # allowed: reached
        assert asked == ["/secret"]


def test_a_typed_source_url_on_loopback_may_be_downloaded(server: str, tmp_path: Path) -> None:
    from ingest.release import fetch_url

    fetched = fetch_url(f"{server}/plain.gif", tmp_path, timeout_s=2.0)  # no allow_private
    assert fetched.path.read_bytes() == GIF


# --- Ctrl+C: a cut download ends at once


def test_a_cancel_cuts_a_trickling_download_at_once(server: str) -> None:
    cancel = Cancel()
    failures: list[DownloadError] = []

    def fetch() -> None:
        try:
            stream_download(f"{server}/trickle-headers.gif", LIMITS, lambda c: None, cancel=cancel)
        except DownloadError as exc:
            failures.append(exc)

    worker = threading.Thread(target=fetch)
    worker.start()
    time.sleep(1.0)  # the server is trickling its headers, a byte every 0.5 s
    cut_at = time.monotonic()
    cancel.set()
    worker.join(5)
    assert not worker.is_alive()
    assert time.monotonic() - cut_at < 2  # not the 10 s deadline
    assert [f.reason for f in failures] == [CANCELLED]
    with pytest.raises(DownloadError) as later:  # a download after the cut: not started
        stream_download(f"{server}/plain.gif", LIMITS, lambda c: None, cancel=cancel)
    assert later.value.reason == CANCELLED


# --- The GIF's size from its first bytes


@pytest.mark.parametrize("size", [(1, 1), (64, 48), (320, 240), (1000, 3), (65_535, 2)])
def test_gif_size_reads_the_logical_screen_of_real_gifs(size: tuple[int, int]) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("P", size).save(buffer, "GIF")
    data = buffer.getvalue()
    assert gif_size(data[:10]) == size == gif_size(data)


@pytest.mark.parametrize(
    "head", [b"", b"GIF89a\x40", b"PNG89a\x40\x01\xf0\x00", bytes(10)],
    ids=["empty", "short", "not-a-gif", "zeros"],
)  # fmt: skip
def test_gif_size_is_zero_by_zero_for_what_is_no_gif_header(head: bytes) -> None:
    assert gif_size(head) == (0, 0)


def test_the_bombs_are_what_the_issue_measured() -> None:
    header, body = bomb_body("br")
    assert (header, BOMB_BYTES) == ("br", 64 * 1024 * 1024) and len(body) < 200
    assert len(bomb_body("gzip-gzip")[1]) < 1000  # the issue's 281-byte "gzip, gzip"
