"""Middlewares: error mapping (every failure is a JSON body, never a traceback) and the
principal of the request."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from tent.auth import resolve_principal
from tent.core.errors import TentError
from tent.core.media import ERROR
from tent.handlers.common import PRINCIPAL

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_REASONS = {404: "Not Found", 405: "Method Not Allowed", 413: "Request body too large"}


def error_response(status: int, body: dict) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type=ERROR)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except TentError as exc:
        return error_response(exc.status, exc.body())
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _REASONS.get(exc.status) or exc.reason
        return error_response(exc.status, {"error": message})
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, {"error": "Internal Server Error"})


@web.middleware
async def principal(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[PRINCIPAL] = await resolve_principal(request)
    return await handler(request)
