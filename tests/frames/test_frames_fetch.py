"""Downloads against a local HTTP server: slow, trickling, huge, redirected, not GIFs."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from ingest.gif_fetch import fetch_gif, read_gif_file
from ingest.http_download import DownloadError, DownloadLimits
from tests.chroma_server import free_port
from tests.frames.conftest import (
    endless_route,
    gif_route,
    one_scene_gif,
    redirect,
    slow_route,
    trickle_headers_route,
    trickle_route,
)
from tests.local_http import serve_handlers

GIF = one_scene_gif("white", "circle", "red")
LIMITS = DownloadLimits(timeout_s=1.0, deadline_s=2.5, max_bytes=100_000, allow_private=True)


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    routes = {
        "/ok.gif": gif_route(GIF),
        "/no-type.gif": gif_route(GIF, content_type=None),
        "/octet.gif": gif_route(GIF, content_type="application/octet-stream"),
        "/page.html": gif_route(b"<html>a cat</html>", content_type="text/html; charset=utf-8"),
        "/png-as-gif.gif": gif_route(png_bytes()),
        "/huge-declared.gif": endless_route(declare_length=True),
        "/huge-streamed.gif": endless_route(declare_length=False),
        "/slow.gif": slow_route(GIF, delay_s=5.0),
        "/trickle.gif": trickle_route(GIF, every_s=0.05),
        "/trickle-headers.gif": trickle_headers_route(every_s=0.05),
        "/to-file.gif": redirect("file:///etc/passwd"),
        "/to-ftp.gif": redirect("ftp://127.0.0.1/a.gif"),
        "/to-javascript.gif": redirect("javascript:alert(1)"),
        "/loop.gif": redirect("/loop.gif"),
        "/hop.gif": redirect("/ok.gif"),
    }
    with serve_handlers(routes) as (base_url, _):
        yield base_url


@pytest.mark.parametrize(
    "path",
    ["/ok.gif", "/no-type.gif", "/octet.gif", "/hop.gif"],
    ids=["image-gif", "no-content-type", "octet-stream", "redirect-hop"],
)
def test_gifs_download(server: str, path: str) -> None:
    assert fetch_gif(server + path, LIMITS) == GIF


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/page.html", "not_gif"),
        ("/png-as-gif.gif", "not_gif"),
        ("/huge-declared.gif", "too_large"),
        ("/huge-streamed.gif", "too_large"),
        ("/to-file.gif", "bad_redirect"),
        ("/to-ftp.gif", "bad_redirect"),
        ("/to-javascript.gif", "bad_redirect"),
        ("/loop.gif", "bad_redirect"),
        ("/missing.gif", "http_error"),
    ],
    ids=[
        "html",
        "png-body",
        "huge-content-length",
        "huge-stream",
        "redirect-to-file",
        "redirect-to-ftp",
        "redirect-to-javascript",
        "redirect-loop",
        "404",
    ],
)
def test_bad_downloads_fail_with_their_reason(server: str, path: str, reason: str) -> None:
    with pytest.raises(DownloadError) as caught:
        fetch_gif(server + path, LIMITS)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "path",
    ["/slow.gif", "/trickle.gif", "/trickle-headers.gif"],
    ids=["silent", "trickling-body", "trickling-headers"],
)
def test_a_slow_server_times_out_within_the_deadline(server: str, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        fetch_gif(server + path, LIMITS)
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < LIMITS.deadline_s + LIMITS.timeout_s + 0.5


def test_a_closed_port_is_a_network_error() -> None:
    with pytest.raises(DownloadError) as caught:
        fetch_gif(f"http://127.0.0.1:{free_port()}/a.gif", LIMITS)
    assert caught.value.reason == "network_error"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/a.gif", "/etc/passwd"], ids=str
)
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(DownloadError) as caught:
        fetch_gif(url, LIMITS)
    assert caught.value.reason == "bad_url"


@pytest.mark.parametrize(
    ("content", "reason"),
    [(png_bytes(), "not_gif"), (GIF * 200, "too_large"), (None, "unreadable")],
    ids=["png", "too-large", "missing"],
)
def test_local_files_are_checked_too(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "a.gif"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DownloadError) as caught:
        read_gif_file(path, max_bytes=100_000)
    assert caught.value.reason == reason
