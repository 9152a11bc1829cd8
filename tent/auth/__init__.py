"""Who is asking: turns a request into a Principal.

Hawk authentication is not implemented yet, so every request is treated as the owner's.
This is the single place that changes when it is: handlers already take their decisions
from the Principal this returns.
"""

from __future__ import annotations

from aiohttp import web

from tent.core.principal import OWNER, Principal


async def resolve_principal(request: web.Request) -> Principal:
    return OWNER
