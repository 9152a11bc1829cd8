"""Middlewares: error mapping (every failure is a JSON body, never a traceback) and the
principal of the request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from tent.auth.authenticator import HAWK
from tent.auth.hawk import HawkError, sign_response
from tent.auth.payload import check_before_handler
from tent.core.errors import TentError
from tent.core.media import ERROR
from tent.handlers.common import AUTHENTICATOR, BODY_HASH, PRINCIPAL, is_without_hawk, settings_of
from tent.http_input import check_head

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
        response = error_response(exc.status, exc.body())
        response.headers.update(exc.headers)
        if isinstance(exc, HawkError) and exc.www_authenticate:
            response.headers["WWW-Authenticate"] = exc.www_authenticate
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _REASONS.get(exc.status) or exc.reason
        return error_response(exc.status, {"error": message})
    except (ConnectionResetError, asyncio.CancelledError):
        raise  # the client went away mid-request: nothing to answer, nothing to log loudly
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, {"error": "Internal Server Error"})


@web.middleware
async def principal(request: web.Request, handler: Handler) -> web.StreamResponse:
    check_head(request)
    if is_without_hawk(handler):
        return await handler(request)
    if PRINCIPAL not in request:  # batch sub-requests arrive with the batch's principal
        request[PRINCIPAL] = await request.app[AUTHENTICATOR].resolve(request)
        await check_before_handler(request, handler)
    return await handler(request)


async def sign(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response to a Hawk-authenticated request carries
    Server-Authorization (D-34), whoever built it: handlers' JSON, errors, raised redirects
    and streamed attachment bytes (200, 206, HEAD) alike. The payload hash is included when
    the body is known before the headers go out; streamed bytes are signed without one
    (the hash is optional, §4.8), since hashing them first would read the file twice."""
    context = request.get(HAWK)
    if context is None:
        return
    body = response.body if isinstance(response, web.Response) else None
    content = None
    if isinstance(body, bytes | bytearray) and body and request.method != "HEAD" and response.status != 304:
        content = bytes(body)
    settings = settings_of(request)
    content_type = response.headers.get("Content-Type") if content else None
    known = request.get(BODY_HASH)
    content_hash = None
    reusable = known is not None and known[0] is body and known[1] == content_type
    if reusable and context.credentials.algorithm == "sha256":
        content_hash = known[2]  # the ETag's hash: the body is not hashed twice (D-93)
    response.headers["Server-Authorization"] = sign_response(
        context.auth,
        context.credentials,
        method=request.method,
        uri=request.raw_path,
        host=settings.public_host,
        port=settings.public_port,
        content=content,
        content_type=content_type,
        content_hash=content_hash,
    )
