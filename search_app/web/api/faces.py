"""What every face of the API is built with: a FastAPI sub-app whose failures all reach
the client in that face's error shape, one line, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from search_app.errors import GifSearchError
from search_app.web.api.context import ApiContext, ApiError, one_line, validation_message
from search_app.web.api.limits import Overloaded

Render = Callable[[ApiError], dict[str, Any]]
STATUS_LINES = {404: "no such endpoint", 405: "only GET is answered here"}


def face_app(context: ApiContext, render: Render, **kwargs: Any) -> FastAPI:
    """A FastAPI app for one face whose every error is render(ApiError) as JSON."""
    app = FastAPI(**kwargs)

    def respond(error: ApiError) -> JSONResponse:
        return JSONResponse(render(error), status_code=error.status)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        return respond(ApiError(400, validation_message(errors)))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else ""
        message = STATUS_LINES.get(status) or one_line(str(detail)) or "request refused"
        return respond(ApiError(status, message))

    async def on_other(request: Request, exc: Exception) -> JSONResponse:
        return respond(context.classify(exc))

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    # The expected failures by type (answered and done); anything else last: Starlette
    # answers it with this handler too, then lets the server log its traceback.
    for expected in (ApiError, GifSearchError, Overloaded):
        app.add_exception_handler(expected, on_other)
    app.add_exception_handler(Exception, on_other)
    return app
