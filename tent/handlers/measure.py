"""The outermost middleware: every request counted and timed under its route's pattern."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from tent.monitoring.metrics import UNMATCHED, Metrics

METRICS = web.AppKey("metrics", Metrics)
CLIENT_CLOSED = 499  # the client went away before the answer (nginx's convention)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects are raised through the error middleware
        status = exc.status
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        status = CLIENT_CLOSED
        raise
    finally:
        request.app[METRICS].request(route_of(request), request.method, status, time.perf_counter() - started)
