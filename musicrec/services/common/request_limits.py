"""Size limits of a request, each answered in the error envelope before a route runs.

- URL (path and query string) over ``[serving] max_url_bytes``: 414 ``url_too_long``, ``param`` "url".
- Headers over ``[serving] max_header_bytes`` (names and values together): 431 ``headers_too_large``.
- Body over ``[serving] max_body_bytes``: 413 ``body_too_large``, ``param`` "body", unread. A
  ``Content-Length`` over the limit is refused before the app sees the request; a chunked body is counted
  as it is read, and refused as soon as the count passes the limit (whatever the app would have answered
  is dropped). Either way at most the limit plus one chunk is ever read.

uvicorn parses the request line and the headers before any of this: a request line over about 64 KB
gets uvicorn's own plain-text 400 (httptools' limit), and headers are read whole, however large, before
the 431 (docs/api.md).
"""

from __future__ import annotations

import contextlib

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from musicrec.services.common.errors import error_body


class _TooLarge(Exception):
    """Raised from ``receive`` inside the app: the body passed the limit."""


def too_large(limit: int) -> JSONResponse:
    """The 413 envelope for a body over ``limit`` bytes."""
    message = f"body: expected at most {limit} bytes ([serving] max_body_bytes)"
    return JSONResponse(error_body("body_too_large", message, "body"), status_code=413)


class RequestLimitsMiddleware:
    """Pure ASGI middleware enforcing the limits of the module docstring on every HTTP request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_url_bytes: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_body_bytes
        self.max_url_bytes = max_url_bytes
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url_bytes = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
        if url_bytes > self.max_url_bytes:
            message = f"url: expected at most {self.max_url_bytes} bytes ([serving] max_url_bytes)"
            response = JSONResponse(error_body("url_too_long", message, "url"), status_code=414)
            await response(scope, receive, send)
            return
        if sum(len(name) + len(value) for name, value in scope["headers"]) > self.max_header_bytes:
            message = f"headers: expected at most {self.max_header_bytes} bytes ([serving] max_header_bytes)"
            response = JSONResponse(error_body("headers_too_large", message, "headers"), status_code=431)
            await response(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await too_large(self.max_bytes)(scope, receive, send)
            return
        if length is not None:  # the server delivers no more than Content-Length bytes
            await self.app(scope, receive, send)
            return

        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's answer to a body it could not read: the 413 goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if refused and not started:
            await too_large(self.max_bytes)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
