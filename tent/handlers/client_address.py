"""Which address a request comes from, for per-client limits and logs.

The peer's address, unless that peer is one of `TENT_TRUSTED_PROXIES`: then the nearest
`X-Forwarded-For` entry that is not itself a trusted proxy. A header from any other peer is
ignored, since anyone can send one.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from tent.handlers.common import settings_of

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(configured: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n) for n in configured)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_address(request: web.Request) -> str:
    peer = request.remote or "unknown"
    networks = _networks(settings_of(request).trusted_proxies)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for v in request.headers.getall("X-Forwarded-For", ()) for h in v.split(",")]
    for hop in reversed(hops):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            return peer  # a malformed entry: nothing beyond it can be believed
        if not _trusted(address, networks):
            return address
    return peer
