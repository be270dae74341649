"""A local HTTP server for download tests: routes answered by handlers, or by fixed bodies."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (the test's point, for slow routes) is not an error here."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]  # request is typed object; BaseServer wants a socket


@contextmanager
def serve_handlers(routes: dict[str, Route]) -> Iterator[tuple[str, list[str]]]:
    """Serve routes on 127.0.0.1; yield (base URL, requested paths). Unknown paths: 404."""
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            requested.append(self.path)
            route = routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            route(self)

        def log_message(self, *args: object) -> None:
            return

    server = _QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()


def body_route(body: bytes, delay_s: float = 0.0, content_type: str | None = None) -> Route:
    """A route answering 200 with body after waiting delay_s; a Content-Type when given."""

    def answer(request: BaseHTTPRequestHandler) -> None:
        if delay_s:
            time.sleep(delay_s)
        request.send_response(200)
        if content_type is not None:
            request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return answer


@contextmanager
def serve_routes(routes: dict[str, bytes], delay_s: float = 0.0) -> Iterator[tuple[str, list[str]]]:
    """Serve fixed bodies on 127.0.0.1; yield (base URL, list of requested paths)."""
    with serve_handlers({path: body_route(body, delay_s) for path, body in routes.items()}) as out:
        yield out
