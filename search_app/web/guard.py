"""The web app's outer guard: an ASGI middleware in front of gradio (no gradio import here).

It refuses, before gradio reads a byte of the body:
- a write (POST, PUT, PATCH, DELETE) sent from another website: a browser names the page's
  origin in `Origin` (and `Sec-Fetch-Site`) even for a `no-cors` request, which CORS does
  not stop from being sent; API clients such as gradio_client send no Origin;
- an upload when the collection can't search by image (nothing on the page uploads), an
  upload over the size cap, and uploads past the budget of bytes per time window;
- any other request body over a small cap (a query is a sentence; the cap is far above one).
Every response carries headers that keep the page out of other sites' frames and stop
content sniffing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_SUFFIX = "/upload"
MAX_BODY_BYTES = 64 * 1024  # any request but an upload: a query is a few hundred bytes
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the largest image a visitor may drop
UPLOAD_WINDOW_S = 900  # uploads are kept this long (web.py), and budgeted over it
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


@dataclass(frozen=True)
class GuardLimits:
    """What the guard lets through: uploads at all, their size, and their budget."""

    uploads: bool = False
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    upload_budget_bytes: int = 256 * 1024 * 1024  # per window, over all clients
    upload_window_s: float = UPLOAD_WINDOW_S
    max_body_bytes: int = MAX_BODY_BYTES


class UploadBudget:
    """Bytes accepted for upload in the last window (thread-safe)."""

    def __init__(self, limits: GuardLimits) -> None:
        self.limits = limits
        self._accepted: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        """Record an upload of size bytes if the budget allows it; return whether it did."""
        now = time.monotonic()
        with self._lock:
            while self._accepted and self._accepted[0][0] < now - self.limits.upload_window_s:
                self._accepted.popleft()
            used = sum(n for _, n in self._accepted)
            if used + size > self.limits.upload_budget_bytes:
                return False
            self._accepted.append((now, size))
            return True


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def is_cross_site(headers: dict[str, str], scheme: str) -> bool:
    """Whether a browser says the request comes from a page of another origin."""
    if headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = headers.get("origin")
    if origin is None:
        return False  # not a browser page's request (curl, gradio_client)
    if origin == "null":
        return True  # a sandboxed frame or a file: page
    host = headers.get("host", "")
    parts = urlsplit(origin)
    return (parts.scheme, parts.netloc.lower()) != (scheme, host.lower())


class WebGuard:
    """ASGI middleware: the refusals above, and the security headers on every response."""

    def __init__(self, app: ASGIApp, limits: GuardLimits | None = None) -> None:
        self.app = app
        self.limits = limits or GuardLimits()
        self.budget = UploadBudget(self.limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await _respond(send, *refusal)
            return
        cap = self._body_cap(scope)
        await self.app(scope, _capped(receive, cap), _with_headers(send))

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """Return (status, reason) for a request refused outright, else None."""
        method = scope["method"].upper()
        if method not in WRITE_METHODS:
            return None
        headers = _headers(scope)
        if is_cross_site(headers, scope.get("scheme", "http")):
            return 403, "cross-site requests are refused"
        length = headers.get("content-length", "")
        size = int(length) if length.isdigit() else None
        if scope["path"].rstrip("/").endswith(UPLOAD_SUFFIX):
            if not self.limits.uploads:
                return 403, "this collection does not search by image: no uploads"
            if size is None or size > self.limits.max_upload_bytes:
                mib = self.limits.max_upload_bytes >> 20
                return 413, f"uploads are {mib} MiB at most, with their size declared"
            if not self.budget.take(size):
                return 429, "too many uploads just now: try again in a few minutes"
            return None
        if size is not None and size > self.limits.max_body_bytes:
            return 413, f"requests are {self.limits.max_body_bytes >> 10} KiB at most"
        return None

    def _body_cap(self, scope: Scope) -> int:
        if scope["path"].rstrip("/").endswith(UPLOAD_SUFFIX):
            return self.limits.max_upload_bytes
        return self.limits.max_body_bytes


def _capped(receive: Receive, cap: int) -> Receive:
    """A receive that stops a body (declared or chunked) that grows past cap."""
    seen = 0

    async def receive_capped() -> Message:
        nonlocal seen
        if seen > cap:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:  # the app sees the client go, and stops reading
                return {"type": "http.disconnect"}
        return message

    return receive_capped


def _with_headers(send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return send_with_headers


async def _respond(send: Send, status: int, reason: str) -> None:
    body = reason.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), *SECURITY_HEADERS]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
