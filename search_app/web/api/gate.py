"""The server's outer layer: the API's three faces and the folder GIFs' files mounted on one
app (the page is mounted beside them, web/app.py), behind Starlette's TrustedHostMiddleware
(a Host allow-list: DNS rebinding can't reach a loopback server), the page's guard
(web/guard.py) and CORS for GET on the API's paths only (Starlette's CORSMiddleware)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Path
from fastapi.responses import FileResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search_app.records import StoredGif
from search_app.retrieval.request import GIF_ID_PATTERN
from search_app.web.api import giphy, native, tenor
from search_app.web.api.assistant import AssistantGate, assistant_app, build_assistant, running
from search_app.web.api.context import MEDIA_PREFIX, ApiContext, ApiError
from search_app.web.api.faces import face_app
from search_app.web.guard import GuardLimits, WebGuard

API_PREFIXES = (native.PREFIX, giphy.PREFIX, tenor.PREFIX, MEDIA_PREFIX)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
MEDIA_CACHE_S = 86_400
GifId = Annotated[str, Path(pattern=f"^{GIF_ID_PATTERN.pattern}$")]


def allowed_hosts(host: str, extra: Sequence[str] = ()) -> list[str]:
    """The Host names the server answers: loopback names, the address it binds (unless a
    wildcard) and extra (a public name); "*" (any) for a wildcard bind given no names."""
    if host in WILDCARD_HOSTS and not extra:
        return ["*"]
    names = [*LOOPBACK_NAMES, *extra]
    if host not in WILDCARD_HOSTS:
        names.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    return list(dict.fromkeys(names))


class PathCors:
    """CORS for the API's paths only: other sites' pages may read the API with GET (and show
    its GIF files); everything else keeps the guard's same-origin rules."""

    def __init__(self, app: ASGIApp, prefixes: Sequence[str], key_header: str) -> None:
        self.app = app
        self.prefixes = tuple(f"{prefix}/" for prefix in prefixes)
        self.cors = CORSMiddleware(
            app, allow_origins=["*"], allow_methods=["GET"], allow_headers=[key_header], max_age=600
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return

        async def send_shareable(message: Message) -> None:
            if message["type"] == "http.response.start":  # not the page's same-origin CORP
                message["headers"] = [
                    *message.get("headers", []),
                    (b"cross-origin-resource-policy", b"cross-origin"),
                ]
            await send(message)

        await self.cors(scope, receive, send_shareable)


def build_media(context: ApiContext) -> FastAPI:
    """The folder GIFs' files and small renditions, by GIF id only (no key: the ids are
    128-bit hashes that only the API hands out; an <img> can't send a key)."""
    app = face_app(context, native.render_error, openapi_url=None, docs_url=None, redoc_url=None)
    headers = {"Cache-Control": f"public, max-age={MEDIA_CACHE_S}"}

    def stored(gif_id: str) -> StoredGif:
        found = context.gifs([gif_id])
        if not found or not found[0].path:
            raise ApiError(404, "no GIF file with this id on this server")
        return found[0]

    @app.get("/{gif_id}.gif")
    def original(gif_id: GifId) -> FileResponse:
        file = context.media.file(stored(gif_id))
        if file is None:
            raise ApiError(404, "this GIF's file can't be served (moved, changed or too large)")
        return FileResponse(file.path, media_type="image/gif", headers=headers)

    @app.get("/{gif_id}/small.gif")
    def small(gif_id: GifId) -> FileResponse:
        path = context.media.small(stored(gif_id))
        if path is None:
            raise ApiError(404, "this GIF's file can't be served (moved, changed or too large)")
        return FileResponse(path, media_type="image/gif", headers=headers)

    return app


def build_gate(
    context: ApiContext, limits: GuardLimits, hosts: Sequence[str], mcp: bool = False
) -> FastAPI:
    """The outer app: the faces and the files mounted (and, with mcp, the assistants' tool
    at /mcp), the middleware in place; the caller mounts the page at "/" last."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    if mcp:
        tools = build_assistant(context)
        app.add_middleware(AssistantGate, assistant=assistant_app(tools), context=context)
        outer = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(outer_app: Any) -> AsyncIterator[Any]:
            async with running(tools), outer(outer_app) as state:
                yield state

        app.router.lifespan_context = lifespan
    app.mount(native.PREFIX, native.build_native(context))
    app.mount(giphy.PREFIX, giphy.build_giphy(context))
    app.mount(tenor.PREFIX, tenor.build_tenor(context))
    app.mount(MEDIA_PREFIX, build_media(context))
    # Starlette runs the last added outermost: the Host check, then the guard, then CORS.
    app.add_middleware(PathCors, prefixes=API_PREFIXES, key_header=native.KEY_HEADER)
    app.add_middleware(WebGuard, limits=limits)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts), www_redirect=False)
    return app
