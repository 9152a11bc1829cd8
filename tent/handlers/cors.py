"""CORS on every endpoint (§10.3, D-58): browser apps on any origin may use the server.

Preflight `OPTIONS` is answered here, before authentication; every response to a request
that carries `Origin` (errors and redirects included) gets the allow/expose headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

ALLOW_METHODS = "DELETE, GET, HEAD, PATCH, POST, PUT"
ALLOW_HEADERS = (
    "Accept, Authorization, Cache-Control, Content-Type, Create-Delete-Post, If-Match, "
    "If-None-Match, Link, Range"
)
EXPOSE_HEADERS = (
    "Attachment-Digest, Content-Range, Content-Type, Count, ETag, Link, Location, "
    "Server-Authorization, WWW-Authenticate"
)
MAX_AGE = "2592000"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method != "OPTIONS":
        return await handler(request)
    response = web.Response(status=200)
    response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    return response


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: runs for every response just before its headers go out, streamed
    attachments and raised redirects included."""
    if request.method == "OPTIONS" or "Origin" in request.headers:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE
