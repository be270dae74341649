"""GIF bytes for the frames job: safe downloads (http(s) only, bounded in time and size,
checked to be GIFs) and local GIF files. Every failure is a FetchError with a reason the
job counts; none is fatal.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from ingest.reader import is_web_url

FETCH_FAILURES = (
    "bad_url",  # not an absolute http(s) URL
    "timeout",  # no answer within the read timeout, or the whole download over its deadline
    "too_large",  # over the size cap (Content-Length or bytes read)
    "not_gif",  # a Content-Type other than image/gif, or a body without the GIF signature
    "bad_redirect",  # a redirect to a non-http(s) scheme, or too many redirects
    "http_error",  # an HTTP error status
    "network_error",  # DNS, refused connection, reset, TLS, a broken response
    "unreadable",  # a local file that can't be read
)
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
WEB_SCHEMES = ("http", "https")
DEFAULT_MAX_GIF_BYTES = 20 * 1024 * 1024
DEFAULT_DEADLINE_S = 30.0
DEFAULT_MAX_REDIRECTS = 5
READ_CHUNK_BYTES = 64 * 1024
# A server that can't tell what it sends may say octet-stream; the body must still be a GIF.
ACCEPTED_TYPES = ("image/gif", "application/octet-stream", "binary/octet-stream")
REQUEST_HEADERS = {"User-Agent": "gifsearch (frames ingest)", "Accept": "image/gif"}


class FetchError(Exception):
    """A GIF that could not be fetched; reason is one of FETCH_FAILURES."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class FetchLimits:
    """Bounds on one GIF download.

    timeout_s bounds the connect and each read; deadline_s the whole download, redirects
    included (a server that trickles bytes is cut off there); max_bytes its size.
    """

    timeout_s: float = 5.0
    deadline_s: float = DEFAULT_DEADLINE_S
    max_bytes: int = DEFAULT_MAX_GIF_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS


def read_gif_file(path: Path, max_bytes: int = DEFAULT_MAX_GIF_BYTES) -> bytes:
    """Return a local GIF file's bytes, checking its size and GIF signature."""
    try:
        if path.stat().st_size > max_bytes:
            raise FetchError("too_large", f"{path} is over {max_bytes:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise FetchError("unreadable", f"{path}: {exc.strerror or exc}") from None
    check_signature(data, str(path))
    return data


def check_signature(data: bytes, where: str) -> None:
    """Raise FetchError (not_gif) unless data starts with a GIF signature."""
    if not data.startswith(GIF_SIGNATURES):
        raise FetchError("not_gif", f"{where} is not a GIF")


def fetch_gif(url: str, limits: FetchLimits) -> bytes:
    """Download one GIF within limits; raise FetchError saying why it failed."""
    if not is_web_url(url):
        raise FetchError("bad_url", f"{url} is not an http(s) URL")
    deadline = Deadline(limits.deadline_s)
    opener = build_opener(deadline, limits.max_redirects)
    request = urllib.request.Request(url, headers=REQUEST_HEADERS)
    try:
        with opener.open(request, timeout=limits.timeout_s) as response:
            check_headers(response, url, limits.max_bytes)
            data = read_body(response, url, limits.max_bytes, deadline)
    except FetchError:
        raise
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:  # urllib gives up on redirect loops with the 3xx status
            raise FetchError("bad_redirect", f"{url}: too many redirects") from None
        raise FetchError("http_error", f"{url}: HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise _network_failure(url, exc.reason, deadline) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _network_failure(url, exc, deadline) from None
    finally:
        deadline.disarm()
    check_signature(data, url)
    return data


def check_headers(response: http.client.HTTPResponse, url: str, max_bytes: int) -> None:
    """Refuse a response whose Content-Type or Content-Length already rules it out."""
    if response.headers.get("Content-Type"):
        content_type = response.headers.get_content_type()
        if content_type not in ACCEPTED_TYPES:
            raise FetchError("not_gif", f"{url} is {content_type}")
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchError("too_large", f"{url} is {int(length):,} bytes")


def read_body(
    response: http.client.HTTPResponse, url: str, max_bytes: int, deadline: Deadline
) -> bytes:
    """Read the body in chunks, stopping at max_bytes or the deadline."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if deadline.passed():
            raise FetchError("timeout", f"{url}: download took too long")
        chunk = response.read1(READ_CHUNK_BYTES)  # whatever arrived: a trickle can't block
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise FetchError("too_large", f"{url} is over {max_bytes:,} bytes")
        chunks.append(chunk)
    if deadline.passed():  # the watchdog cut the connection: that is no real end
        raise FetchError("timeout", f"{url}: download took too long")
    return b"".join(chunks)


def _network_failure(url: str, reason: object, deadline: Deadline) -> FetchError:
    if isinstance(reason, TimeoutError) or deadline.passed():
        return FetchError("timeout", f"{url}: no answer in time")
    return FetchError("network_error", f"{url}: {reason}")


class SafeRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s) URLs, at most max_redirections of them."""

    def __init__(self, max_redirects: int) -> None:
        self.max_redirections = max_redirects

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
    ) -> http.client.HTTPResponse | None:
        location = headers.get("location") or headers.get("uri") or ""
        target = urljoin(req.full_url, location)
        scheme = urlsplit(target).scheme.lower()
        if scheme not in WEB_SCHEMES:
            fp.close()
            raise FetchError("bad_redirect", f"{req.full_url} redirects to a {scheme}: URL")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class Deadline:
    """The end of one download: every connection it opens is shut down when it passes,
    which wakes a read blocked on a server that sends nothing (or a byte at a time)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self._timers: list[threading.Timer] = []

    def passed(self) -> bool:
        """Whether the deadline is behind us."""
        return time.monotonic() > self.at

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


class _DeadlineConnection:
    """Mixin: an HTTP(S) connection whose socket the deadline watches once connected."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.deadline.watch(self.sock)  # type: ignore[attr-defined]


class _DeadlineHTTPConnection(_DeadlineConnection, http.client.HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
    pass


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTPConnection, req, deadline=self.deadline)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline
        self.context = ssl.create_default_context()

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            _DeadlineHTTPSConnection, req, context=self.context, deadline=self.deadline
        )


def build_opener(deadline: Deadline, max_redirects: int) -> urllib.request.OpenerDirector:
    """Return an opener that speaks only http(s) (no file:, ftp:, data:) within a deadline."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        _DeadlineHTTPHandler(deadline),
        _DeadlineHTTPSHandler(deadline),
        urllib.request.HTTPDefaultErrorHandler(),
        SafeRedirectHandler(max_redirects),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener
