"""Downloads over http(s) with httpx, bounded in every way a hostile server could stretch:
only http and https (every redirect checked, at most max_redirects of them), only public
addresses unless allowed (ingest/reach.py, checked on each connection), a connect and
read timeout, a total deadline (the connection is shut down when it passes, which also
stops a server trickling its headers), and a size cap on the decoded body, counted as it
is decoded a piece at a time (ingest/content_decoding.py: a compression bomb is never
unpacked past the cap, and stacked encodings are refused). A body cut short of its
Content-Length is an error, not a success. A Cancel stops downloads in flight from
another thread (Ctrl+C) by shutting their connections down.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from ingest.content_decoding import ACCEPT_ENCODING, EncodingError, body_encoding, decoded_pieces
from ingest.reach import peer_problem
from ingest.reader import is_web_url
from search_app.errors import ConfigError, first_line
from search_app.settings import MAX_DOWNLOAD_DEADLINE_S, MAX_NETWORK_TIMEOUT_S

WEB_SCHEMES = ("http", "https")
PRIVATE_ADDRESS = "private_address"  # a loopback or private address, not allowed (reach.py)
READ_CHUNK_BYTES = 64 * 1024
DOWNLOAD_FAILURES = (
    "bad_url",  # not an absolute http(s) URL
    "timeout",  # no answer within the read timeout, or the whole download over its deadline
    "too_large",  # over the size cap (Content-Length or bytes read)
    "bad_redirect",  # a redirect to a non-http(s) scheme, or too many redirects
    "http_error",  # an HTTP error status
    "network_error",  # DNS, refused connection, reset, TLS, a cut or broken response
    "bad_encoding",  # a Content-Encoding not offered, stacked ones, or a damaged stream
    PRIVATE_ADDRESS,
)
# Failures of the network on our side, not of what was asked for: a link check keeps the
# GIF's status, a source download falls back to the bundled sample.
UNREACHED_FAILURES = ("timeout", "network_error")
# A download stopped by its Cancel (Ctrl+C): never counted, the run is being stopped.
CANCELLED = "cancelled"
MAX_SHOWN_URL_CHARS = 200  # of a URL, in a message
MAX_LENGTH_DIGITS = 18  # a Content-Length longer than this is over any cap (and int() safe)

# Takes each chunk of a body; returning True says it has seen enough (the rest is not read).
ChunkHandler = Callable[[bytes], bool | None]


class DownloadError(Exception):
    """A download that failed; reason is one of DOWNLOAD_FAILURES (or a caller's own)."""

    def __init__(self, reason: str, detail: str, reached: bool = False) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.reached = reached  # a server accepted a connection (the network works)


@dataclass(frozen=True)
class DownloadLimits:
    """Bounds on one download.

    timeout_s bounds the connect and each read; deadline_s the whole download, redirects
    included; max_bytes its (decoded) size. allow_private lets it reach loopback and
    private addresses (ingest/reach.py).
    """

    timeout_s: float = 5.0
    deadline_s: float = 30.0
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    allow_private: bool = False

    def __post_init__(self) -> None:
        # A timer or a socket timeout can't wait an infinite or astronomic time (the
        # settings refuse those first; this guards every other caller).
        for name, value, most in (
            ("timeout", self.timeout_s, MAX_NETWORK_TIMEOUT_S),
            ("deadline", self.deadline_s, MAX_DOWNLOAD_DEADLINE_S),
        ):
            if not 0 < value <= most:  # False for nan too
                raise ConfigError(f"download {name} {value!r} s is not from 0 to {most:g} s")


def shown(url: str) -> str:
    """Return a URL cut to a length fit for a one-line message."""
    return url if len(url) <= MAX_SHOWN_URL_CHARS else url[:MAX_SHOWN_URL_CHARS] + "…"


class Cancel:
    """Stops downloads in flight from another thread: set() shuts their connections down,
    and a download that starts after it fails at once (reason CANCELLED)."""

    def __init__(self) -> None:
        self._set = threading.Event()
        self._lock = threading.Lock()
        self._transfers: set[Transfer] = set()

    def is_set(self) -> bool:
        """Whether the downloads are being stopped."""
        return self._set.is_set()

    def set(self) -> None:
        """Stop every download in flight, and every later one."""
        with self._lock:
            self._set.set()
            transfers = list(self._transfers)
        for transfer in transfers:
            transfer.cut()

    @contextlib.contextmanager
    def tracking(self, transfer: Transfer) -> Iterator[None]:
        """Cut transfer too if the downloads are stopped while the block runs."""
        with self._lock:
            self._transfers.add(transfer)
        try:
            if self.is_set():
                transfer.cut()
            yield
        finally:
            with self._lock:
                self._transfers.discard(transfer)


class Transfer:
    """One download's watch over its connections: each is checked against the reach
    policy once connected, and shut down when the deadline passes or the download is cut,
    which wakes a read blocked on a server that sends nothing (or a byte at a time)."""

    def __init__(self, seconds: float, allow_private: bool = False) -> None:
        self.at = time.monotonic() + seconds
        self.allow_private = allow_private
        self.reached = False  # a server accepted a connection
        self.was_cut = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timers: list[threading.Timer] = []

    def passed(self) -> bool:
        """Whether the deadline is behind us."""
        return time.monotonic() > self.at

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: check and watch each socket as soon as it is connected."""
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                self.reached = True
                problem = peer_problem(sock, self.allow_private)
                if problem:
                    _shut_down(sock)
                    raise DownloadError(PRIVATE_ADDRESS, problem, reached=True)
                self.watch(sock)

    def watch(self, sock: socket.socket) -> None:
        """Shut sock down at the deadline (or now, when cut) unless disarmed first."""
        timer = threading.Timer(max(0.0, self.at - time.monotonic()), _shut_down, args=(sock,))
        timer.daemon = True
        with self._lock:
            self._sockets.append(sock)
            self._timers.append(timer)
            cut = self.was_cut
        if cut:
            _shut_down(sock)
        else:
            timer.start()

    def cut(self) -> None:
        """Shut every connection down now, and any made later."""
        with self._lock:
            self.was_cut = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut_down(sock)

    def disarm(self) -> None:
        """Cancel every pending shutdown (the download is over)."""
        with self._lock:
            timers = list(self._timers)
        for timer in timers:
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
    cancel: Cancel | None = None,
) -> None:
    """GET url within limits, handing each decoded piece of the body (about chunk_bytes
    at most) to on_chunk.

    check_response sees the final response before its body is read (and may raise).
    on_chunk returning True (True itself: not a byte count) stops the download there: the
    rest of the body is never read (nor decoded) and the connection is closed, so a caller
    that needs only the first bytes (the link checker) doesn't fetch the whole file.
    cancel, when set from another thread, cuts the download short. Raises DownloadError
    saying why it failed (reached: whether a server accepted a connection).
    """
    check_web_url(url)
    if not is_web_url(url):  # the rows' own rule: no spaces, controls or unsafe characters
        raise DownloadError("bad_url", f"{shown(url)} holds characters a URL can't hold")
    if cancel is not None and cancel.is_set():
        raise DownloadError(CANCELLED, f"{shown(url)}: stopped")
    transfer = Transfer(limits.deadline_s, limits.allow_private)
    try:
        with (
            cancel.tracking(transfer) if cancel is not None else contextlib.nullcontext(),
            httpx.Client(
                timeout=httpx.Timeout(limits.timeout_s),
                headers={"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})},
                follow_redirects=False,
                verify=shared_ssl_context(),
            ) as client,
        ):
            for _ in range(limits.max_redirects + 1):
                response = _send(client, url, transfer)
                try:
                    if response.is_redirect:
                        url = _redirect_target(response, url)
                        continue
                    _check_final(response, url, limits, check_response)
                    read_body(response, url, limits.max_bytes, transfer, on_chunk, chunk_bytes)
                    return
                finally:
                    response.close()
            raise DownloadError("bad_redirect", f"{shown(url)}: too many redirects")
    except DownloadError as exc:
        exc.reached = exc.reached or transfer.reached
        raise
    except httpx.TimeoutException:
        raise _failure(transfer, "timeout", f"{shown(url)}: no answer in time") from None
    except (httpx.HTTPError, OSError, ValueError) as exc:
        if transfer.was_cut:
            raise _failure(transfer, CANCELLED, f"{shown(url)}: stopped") from None
        if transfer.passed():  # the watchdog cut the connection
            raise _failure(transfer, "timeout", f"{shown(url)}: download took too long") from None
        raise _failure(transfer, "network_error", f"{shown(url)}: {first_line(exc)}") from None
    finally:
        transfer.disarm()


def _failure(transfer: Transfer, reason: str, detail: str) -> DownloadError:
    return DownloadError(reason, detail, reached=transfer.reached)


def _send(client: httpx.Client, url: str, transfer: Transfer) -> httpx.Response:
    """Send a GET of url, streaming; an invalid URL or redirect is a DownloadError."""
    try:
        request = client.build_request("GET", url, extensions={"trace": transfer.trace})
    except httpx.InvalidURL:
        raise DownloadError("bad_url", f"{shown(url)} is not a valid URL") from None
    try:
        return client.send(request, stream=True)
    except httpx.InvalidURL:  # httpx reads a redirect's Location while sending
        raise DownloadError("bad_redirect", f"{shown(url)} redirects to an invalid URL") from None


def _redirect_target(response: httpx.Response, url: str) -> str:
    """Return where a redirect points, refusing any target but an http(s) URL."""
    location: str = response.headers.get("location", "").strip()
    if not location:
        raise DownloadError("bad_redirect", f"{shown(url)} redirects without a Location")
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
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and (
        len(declared) > MAX_LENGTH_DIGITS or int(declared) > limits.max_bytes
    ):
        raise DownloadError("too_large", f"{shown(url)} is {declared[:40]} bytes")
    if check_response:
        check_response(response)


def read_body(
    response: httpx.Response,
    url: str,
    max_bytes: int,
    transfer: Transfer,
    on_chunk: ChunkHandler,
    chunk_bytes: int = READ_CHUNK_BYTES,
) -> None:
    """Stream the body to on_chunk decoded a piece at a time, stopping at max_bytes of
    decoded bytes or the deadline, or early when on_chunk returns True."""
    try:
        encoding = body_encoding(response.headers.get("Content-Encoding", ""))
        size = 0
        raw = response.iter_raw(READ_CHUNK_BYTES)
        for piece in decoded_pieces(raw, encoding, min(chunk_bytes, READ_CHUNK_BYTES)):
            if transfer.passed():
                raise DownloadError("timeout", f"{shown(url)}: download took too long")
            size += len(piece)
            if size > max_bytes:
                raise DownloadError("too_large", f"{shown(url)} is over {max_bytes:,} bytes")
            if on_chunk(piece) is True:
                return  # the caller has seen enough; closing the response drops the rest
    except EncodingError as exc:
        raise DownloadError("bad_encoding", f"{shown(url)}: {exc}") from None
    if transfer.passed():  # the watchdog cut the connection: that is no real end
        raise DownloadError("timeout", f"{shown(url)}: download took too long")
