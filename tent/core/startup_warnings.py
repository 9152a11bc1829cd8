"""Settings that start a server nobody else can use safely: said once at `tent serve`, as
warnings, because each is a legitimate choice on a laptop and a mistake on a VPS (D-75)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def startup_warnings(entity: str, app_approval: str) -> list[str]:
    parts = urlsplit(entity)
    host = parts.hostname or ""
    found = []
    if _is_loopback(host):
        found.append(
            f"TENT_ENTITY is {entity}, a loopback address: no other server can reach it, so "
            "nobody can follow you or deliver to you. Set TENT_ENTITY to the public URL "
            "(https://your.domain) unless this server is only for trying things out"
        )
    elif parts.scheme == "http":
        found.append(
            f"TENT_ENTITY {entity} uses plain http: posts, sign-ins and tokens cross the network "
            "unencrypted. Put a TLS reverse proxy in front and use an https:// entity"
        )
    if app_approval == "auto":
        found.append(
            "TENT_APP_APPROVAL=auto: every app that asks is approved without the owner. "
            "It is meant for tests; use 'owner' for a server people use"
        )
    return found
