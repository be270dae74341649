"""A tool for assistants: an MCP endpoint (the official `mcp` SDK, streamable HTTP) at /mcp
on the same server, opt-in (`gifsearch serve --mcp`), with three tools: search GIFs, get
one by id, find similar ones. The same keys (X-API-Key, or Authorization: Bearer KEY) and
the same concurrency bound as the API; the same SearchRequest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from search_app.errors import GifSearchError
from search_app.records import SearchHit, StoredGif
from search_app.retrieval.engine import hit_of
from search_app.retrieval.request import DEFAULT_K, FrontEnd, SearchRequest
from search_app.web.api.context import ApiContext, ApiError
from search_app.web.api.limits import Overloaded

PATH = "/mcp"
T = TypeVar("T")
INSTRUCTIONS = (
    "Search the user's own collection of animated GIFs by what happens in them (a sentence "
    "such as 'a dog catches a frisbee'; -word leaves GIFs mentioning it out). Each GIF has an "
    "id, a url to show or send, and its descriptions."
)


def gif_summary(gif: SearchHit | StoredGif) -> dict[str, Any]:
    """A GIF as a tool returns it: what an assistant needs to show or send it."""
    hit = gif if isinstance(gif, SearchHit) else hit_of(gif)
    data = hit.to_dict()
    return {
        "id": hit.gif_id,
        "url": hit.url,
        "description": hit.description,
        "other_descriptions": list(hit.other_descriptions),
        "score": data["score"],
        "width": hit.width or None,
        "height": hit.height or None,
    }


def answered(call: Callable[[], T], context: ApiContext) -> T:
    """Run a tool's call; a failure reaches the assistant as one line (ToolError), as an
    API client would see it, never a traceback."""
    try:
        return call()
    except (GifSearchError, ApiError, Overloaded) as exc:
        raise ToolError(context.classify(exc).message) from None


def build_assistant(context: ApiContext) -> MCPServer:
    """The MCP server's tools over the API's context."""
    server = MCPServer(name="gifsearch", instructions=INSTRUCTIONS)
    default_k = DEFAULT_K[FrontEnd.API]

    @server.tool()
    def search_gifs(query: str, limit: int = default_k, offset: int = 0) -> list[dict[str, Any]]:
        """Find GIFs by what happens in them, best first (limit 1 to 50; offset pages)."""
        hits = answered(lambda: context.search(SearchRequest(query, limit, offset)), context)
        return [gif_summary(hit) for hit in hits]

    @server.tool()
    def get_gif(gif_id: str) -> dict[str, Any]:
        """One GIF by its id (32 hexadecimal digits), with all its descriptions."""
        found = answered(lambda: context.gifs([gif_id]), context)
        if not found:
            raise ToolError("no GIF with this id in the collection")
        return gif_summary(found[0])

    @server.tool()
    def similar_gifs(gif_id: str, limit: int = default_k) -> list[dict[str, Any]]:
        """The GIFs most like a stored GIF, without it, best first (limit 1 to 50)."""
        hits = answered(lambda: context.search(SearchRequest(like=gif_id, k=limit)), context)
        return [gif_summary(hit) for hit in hits]

    return server


class AssistantGate:
    """ASGI: /mcp goes to the MCP app once its key checks out; anything else passes on."""

    def __init__(self, app: ASGIApp, assistant: ASGIApp, context: ApiContext) -> None:
        self.app = app
        self.assistant = assistant
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != PATH:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        bearer = headers.get("authorization", "")
        presented = headers.get("x-api-key") or (
            bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        )
        try:
            self.context.check_key(presented)
        except ApiError as exc:
            body = json.dumps({"error": {"status": exc.status, "message": exc.message}}).encode()
            await send({"type": "http.response.start", "status": exc.status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        await self.assistant({**scope, "path": PATH}, receive, send)


def assistant_app(server: MCPServer) -> ASGIApp:
    """The MCP server's streamable-HTTP app (JSON answers, no sessions to keep; the gate's
    Host allow-list stands in for the SDK's own DNS-rebinding check)."""
    return server.streamable_http_app(
        streamable_http_path=PATH,
        json_response=True,
        stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


@asynccontextmanager
async def running(server: MCPServer) -> AsyncIterator[None]:
    """Run the MCP server's session manager for the life of the HTTP server."""
    async with server.session_manager.run():
        yield
