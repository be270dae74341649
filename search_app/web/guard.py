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

import asyncio
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
BODY_DEADLINE_S = 60.0  # a request body (an upload) arrives within this, or is cut off
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
    body_deadline_s: float = BODY_DEADLINE_S


class UploadBudget:
    """Upload bytes received in the last window (thread-safe). Charged as the bytes arrive,
    never from a declared size: a request refused before its body is read (no login, a
    size over the cap) costs nothing, and no one can spend the budget with headers alone."""

    def __init__(self, limits: GuardLimits) -> None:
        self.limits = limits
        self._received: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def _used(self, now: float) -> int:
        while self._received and self._received[0][0] < now - self.limits.upload_window_s:
            self._received.popleft()
        return sum(n for _, n in self._received)

    def spent(self) -> bool:
        """Whether the window's budget is used up (no upload is started then)."""
        with self._lock:
            return self._used(time.monotonic()) >= self.limits.upload_budget_bytes

    def take(self, size: int) -> bool:
        """Charge size received bytes if the budget allows them; return whether it did."""
        now = time.monotonic()
        with self._lock:
            if self._used(now) + size > self.limits.upload_budget_bytes:
                return False
            self._received.append((now, size))
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
        upload = scope["path"].rstrip("/").endswith(UPLOAD_SUFFIX)
        cap = self.limits.max_upload_bytes if upload else self.limits.max_body_bytes
        reader = _capped(receive, cap, self.limits.body_deadline_s, self.budget if upload else None)
        await self.app(scope, reader, _with_headers(send))

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
            if self.budget.spent():
                return 429, "too many uploads just now: try again in a few minutes"
            return None
        if size is not None and size > self.limits.max_body_bytes:
            return 413, f"requests are {self.limits.max_body_bytes >> 10} KiB at most"
        return None


def _capped(
    receive: Receive, cap: int, deadline_s: float, budget: UploadBudget | None = None
) -> Receive:
    """A receive that ends a body (declared or chunked) that grows past cap, arrives slower
    than deadline_s in all, or (an upload) would overspend the budget: the app sees the
    client go, and stops reading. Upload bytes are charged to the budget as they arrive."""
    seen = 0
    ends_at = time.monotonic() + deadline_s
    body_done = False  # after the body, receive only waits for a disconnect (a stream's)
    gone: Message = {"type": "http.disconnect"}

    async def receive_capped() -> Message:
        nonlocal seen, body_done
        if seen > cap:
            return gone
        if body_done:
            return await receive()
        try:
            message = await asyncio.wait_for(receive(), max(0.0, ends_at - time.monotonic()))
        except TimeoutError:
            return gone
        body_done = message["type"] != "http.request" or not message.get("more_body", False)
        if message["type"] == "http.request":
            size = len(message.get("body", b""))
            seen += size
            if seen > cap or (budget is not None and size and not budget.take(size)):
                seen = cap + 1
                return gone
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
