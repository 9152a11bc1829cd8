"""`/healthz`, `/readyz` and `/metrics`: for probes and scrapers, without Hawk (D-74)."""

from __future__ import annotations

import hmac

from aiohttp import web

from tent.core.errors import TentError
from tent.core.posts import now_ms
from tent.handlers.common import OUTBOX, POSTS, json_response, settings_of, without_hawk
from tent.handlers.measure import METRICS
from tent.monitoring.health import readiness
from tent.monitoring.metrics import CONTENT_TYPE
from tent.store.monitoring import MonitoringStore

MONITORING_STORE = web.AppKey("monitoring_store", MonitoringStore)


@without_hawk
async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return json_response(request, {"status": "ok"})


@without_hawk
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    result = await readiness(app[POSTS].db.pool, app[OUTBOX].alive)
    body = {"ready": result.ready, "checks": result.checks}
    return json_response(request, body, status=200 if result.ready else 503)


@without_hawk
async def metrics(request: web.Request) -> web.Response:
    token = settings_of(request).metrics_token or ""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not (
        token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    ):
        raise TentError(
            "Metrics need Authorization: Bearer <TENT_METRICS_TOKEN>",
            401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    app = request.app
    await app[METRICS].refresh(app[MONITORING_STORE], app[POSTS].db.pool, now_ms())
    return web.Response(body=app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})
