"""The one HTTP server of `gifsearch serve`: uvicorn serving the page and the API on one
port, in a thread, with the deadlines uvicorn itself lacks.

uvicorn times out an idle keep-alive connection (after a response) but not a connection
that never finishes a request's headers, and it accepts connections without bound:
measured on the landed server, 500 slow-header and 500 idle connections stayed open past
60 s, and 19,950 idle connections were accepted. DeadlineProtocol closes a connection that
sends no complete request headers within HEADER_TIMEOUT_S of opening (or of its last
response), and closes a new connection at once past MAX_CONNECTIONS open ones. A request
body's own deadline is the guard's (web/guard.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from search_app.errors import ConfigError

HEADER_TIMEOUT_S = 10.0  # a request's headers, from the connection's start or last response
KEEP_ALIVE_S = 5  # an idle keep-alive connection (uvicorn's own timer)
MAX_CONNECTIONS = 512  # open at once; more are closed as they come
MAX_HEADER_BYTES = 32 * 1024  # a request's headers (h11's incomplete-event cap)
MAX_TASKS = 256  # requests in flight; uvicorn answers more with 503
START_TIMEOUT_S = 30.0


class DeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for request headers and a cap on open
    connections (see the module)."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows BaseTransport itself
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            transport.close()
            return
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_flight():
            self._disarm_header_deadline()
        elif self._header_timer is None and not self.transport.is_closing():
            self._arm_header_deadline()  # bytes of a next request: its headers are due

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm_header_deadline()  # idle now: uvicorn's keep-alive timer runs

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _in_flight(self) -> bool:
        cycle: RequestResponseCycle | None = self.cycle  # None until the first request
        return cycle is not None and not cycle.response_complete

    def _arm_header_deadline(self) -> None:
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._headers_overdue)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if not self._in_flight():
            self.transport.close()


@dataclass
class RunningServer:
    """A server running in a thread: its URL, and how to stop it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    closers: list[Any] = field(default_factory=list)

    @property
    def is_running(self) -> bool:
        """Whether the server still serves."""
        return self.thread.is_alive() and not self.server.should_exit

    def close(self) -> None:
        """Stop serving and wait for the thread (a few seconds at most)."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        for close in self.closers:
            close()


def start_server(app: Any, host: str, port: int) -> RunningServer:
    """Serve app on host:port in a thread; raise ConfigError when it can't listen."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=DeadlineProtocol,
        ws="none",  # the page and the API are plain HTTP (gradio streams over SSE)
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_S,
        limit_concurrency=MAX_TASKS,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        log_level="warning",
        access_log=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # uvicorn exits with SystemExit when it can't bind
            failure.append(exc)

    thread = threading.Thread(target=run, name="gifsearch-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(
                f"cannot listen on {host}:{port} (port taken?); pick another with --port"
            )
        time.sleep(0.02)
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(f"http://{shown}:{port}", server, thread)
