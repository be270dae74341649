"""Downloads over http(s) with httpx, bounded in every way a hostile server could stretch:
only http and https (every redirect checked, at most max_redirects of them), a connect and
read timeout, a total deadline (the connection is shut down when it passes, which also
stops a server trickling its headers), and a size cap counted while streaming. A body cut
short of its Content-Length is an error, not a success.

Shared by the frames job (GIFs, ingest/gif_fetch.py), the source download
(ingest/sources.py) and the link checker. Every failure is a DownloadError with a reason.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from ingest.reader import is_web_url
from search_app.errors import first_line

WEB_SCHEMES = ("http", "https")
READ_CHUNK_BYTES = 64 * 1024
DOWNLOAD_FAILURES = (
    "bad_url",  # not an absolute http(s) URL
    "timeout",  # no answer within the read timeout, or the whole download over its deadline
    "too_large",  # over the size cap (Content-Length or bytes read)
    "bad_redirect",  # a redirect to a non-http(s) scheme, or too many redirects
    "http_error",  # an HTTP error status
    "network_error",  # DNS, refused connection, reset, TLS, a cut or broken response
)
# Failures of the network on our side, not of what was asked for: a link check keeps the
# GIF's status, a source download falls back to the bundled sample.
UNREACHED_FAILURES = ("timeout", "network_error")
MAX_SHOWN_URL_CHARS = 200  # of a URL, in a message

# Takes each chunk of a body; returning True says it has seen enough (the rest is not read).
ChunkHandler = Callable[[bytes], bool | None]


class DownloadError(Exception):
    """A download that failed; reason is one of DOWNLOAD_FAILURES (or a caller's own)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DownloadLimits:
    """Bounds on one download.

    timeout_s bounds the connect and each read; deadline_s the whole download, redirects
    included; max_bytes its (decoded) size.
    """

    timeout_s: float = 5.0
    deadline_s: float = 30.0
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5


def shown(url: str) -> str:
    """Return a URL cut to a length fit for a one-line message."""
    return url if len(url) <= MAX_SHOWN_URL_CHARS else url[:MAX_SHOWN_URL_CHARS] + "…"


class Deadline:
    """The end of one download: every connection it opens is shut down when it passes,
    which wakes a read blocked on a server that sends nothing (or a byte at a time)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self._timers: list[threading.Timer] = []

    def passed(self) -> bool:
        """Whether the deadline is behind us."""
        return time.monotonic() > self.at

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: watch each socket as soon as it is connected."""
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                self.watch(sock)

    def watch(self, sock: socket.socket) -> None:
        """Shut sock down at the deadline unless disarmed first."""
        timer = threading.Timer(max(0.0, self.at - time.monotonic()), _shut_down, args=(sock,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def disarm(self) -> None:
        """Cancel every pending shutdown (the download is over)."""
        for timer in self._timers:
            timer.cancel()


def _shut_down(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """Return httpx's default TLS verification context, built once per process.

    Building one loads the CA bundle: about 40 ms of CPU, more than a link check's own
    work, which a new client per download would pay every time.
    """
    return httpx.create_ssl_context()


def check_web_url(url: str) -> None:
    """Raise DownloadError("bad_url") unless url is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise DownloadError("bad_url", f"{shown(url)} is not a valid URL") from None
    if parts.scheme not in WEB_SCHEMES or not parts.hostname:
        scheme = f"a {parts.scheme}: URL" if parts.scheme else "not an http(s) URL"
        raise DownloadError("bad_url", f"{shown(url)} is {scheme}")


def stream_download(
    url: str,
    limits: DownloadLimits,
    on_chunk: ChunkHandler,
    check_response: Callable[[httpx.Response], None] | None = None,
    headers: dict[str, str] | None = None,
    chunk_bytes: int = READ_CHUNK_BYTES,
) -> None:
    """GET url within limits, handing each chunk of the body (chunk_bytes at most) to
    on_chunk.

    check_response sees the final response before its body is read (and may raise).
    on_chunk returning True (True itself: not a byte count) stops the download there: the
    rest of the body is never read and the connection is closed, so a caller that needs
    only the first bytes (the link checker) doesn't fetch the whole file. Raises
    DownloadError saying why it failed.
    """
    check_web_url(url)
    if not is_web_url(url):  # the rows' own rule: no spaces, controls or unsafe characters
        raise DownloadError("bad_url", f"{shown(url)} holds characters a URL can't hold")
    deadline = Deadline(limits.deadline_s)
    try:
        with httpx.Client(
            timeout=httpx.Timeout(limits.timeout_s),
            headers=headers,
            follow_redirects=False,
            verify=shared_ssl_context(),
        ) as client:
            for _ in range(limits.max_redirects + 1):
                response = _send(client, url, deadline)
                try:
                    if response.is_redirect:
                        url = _redirect_target(response, url)
                        continue
                    _check_final(response, url, limits, check_response)
                    read_body(response, url, limits.max_bytes, deadline, on_chunk, chunk_bytes)
                    return
                finally:
                    response.close()
            raise DownloadError("bad_redirect", f"{shown(url)}: too many redirects")
    except DownloadError:
        raise
    except httpx.TimeoutException:
        raise DownloadError("timeout", f"{shown(url)}: no answer in time") from None
    except (httpx.HTTPError, OSError, ValueError) as exc:
        if deadline.passed():  # the watchdog cut the connection
            raise DownloadError("timeout", f"{shown(url)}: download took too long") from None
        raise DownloadError("network_error", f"{shown(url)}: {first_line(exc)}") from None
    finally:
        deadline.disarm()


def _send(client: httpx.Client, url: str, deadline: Deadline) -> httpx.Response:
    """Send a GET of url, streaming; an invalid URL or redirect is a DownloadError."""
    try:
        request = client.build_request("GET", url, extensions={"trace": deadline.trace})
    except httpx.InvalidURL:
        raise DownloadError("bad_url", f"{shown(url)} is not a valid URL") from None
    try:
        return client.send(request, stream=True)
    except httpx.InvalidURL:  # httpx reads a redirect's Location while sending
        raise DownloadError("bad_redirect", f"{shown(url)} redirects to an invalid URL") from None


def _redirect_target(response: httpx.Response, url: str) -> str:
    """Return where a redirect points, refusing any target but an http(s) URL."""
    location: str = response.headers.get("location", "")
    target = urljoin(str(response.url), location)
    try:
        check_web_url(target)
    except DownloadError as exc:
        raise DownloadError("bad_redirect", f"{shown(url)} redirects to {exc.detail}") from None
    return target


def _check_final(
    response: httpx.Response,
    url: str,
    limits: DownloadLimits,
    check_response: Callable[[httpx.Response], None] | None,
) -> None:
    """Refuse a final response that is an HTTP error or declares more than the size cap."""
    if response.status_code >= 400:
        raise DownloadError("http_error", f"{shown(url)}: HTTP {response.status_code}")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise DownloadError("too_large", f"{shown(url)} is {int(declared):,} bytes")
    if check_response:
        check_response(response)


def read_body(
    response: httpx.Response,
    url: str,
    max_bytes: int,
    deadline: Deadline,
    on_chunk: ChunkHandler,
    chunk_bytes: int = READ_CHUNK_BYTES,
) -> None:
    """Stream the (decoded) body to on_chunk, stopping at max_bytes or the deadline, or
    early when on_chunk returns True."""
    size = 0
    for chunk in response.iter_bytes(chunk_bytes):
        if deadline.passed():
            raise DownloadError("timeout", f"{shown(url)}: download took too long")
        size += len(chunk)
        if size > max_bytes:
            raise DownloadError("too_large", f"{shown(url)} is over {max_bytes:,} bytes")
        if on_chunk(chunk) is True:
            return  # the caller has seen enough; closing the response drops the rest
    if deadline.passed():  # the watchdog cut the connection: that is no real end
        raise DownloadError("timeout", f"{shown(url)}: download took too long")
