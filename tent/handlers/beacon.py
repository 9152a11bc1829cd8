"""The signed manifest at the host's root (seed 001): one proof per configured turf, each
signed by the entity's newest key, so a site can show which Tent entity speaks for it."""

from __future__ import annotations

import orjson
from aiohttp import web

from tent import keys
from tent.core import beacon
from tent.handlers.common import posts_of, settings_of


async def manifest(request: web.Request) -> web.Response:
    settings = settings_of(request)
    stored = await keys.signing_keys(posts_of(request))
    proofs = []
    if stored:
        key = keys.newest(stored)
        proofs = [beacon.proof(key, turf, settings.entity) for turf in settings.turfs]
    return web.Response(
        body=orjson.dumps(proofs),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )
