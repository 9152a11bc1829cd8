"""Discovery (docs/protocol.md §1.3): from an entity URL to its meta post and servers.

HEAD first (cheap, and the header form is the preferred one), then GET for servers that only
put the link in the HTML head or only answer GET; relative links are resolved against the URL
that carried them; the first candidate yielding a valid meta post for *this* entity wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from tent.client.session import POST_MEDIA_TYPE, ClientError, TentSession, ordered_servers
from tent.core.entities import check_entity
from tent.core.links import header_links, html_links
from tent.core.media import REL_META_POST
from tent.core.type_uris import META_BASE, META_TYPE
from tent.core.types import base_version

META_ACCEPT = f'{POST_MEDIA_TYPE}; type="{META_TYPE}"'



@dataclass(frozen=True)
class Meta:
    """The entity as its meta post describes it; ``servers`` ordered by preference."""

    entity: str
    post: dict[str, Any]
    servers: list[dict[str, Any]]


def check_entity_url(entity: str) -> str:
    """Say early that what the person typed is not an entity (a trailing slash is allowed:
    discovery tries the URL with and without it)."""
    try:
        return check_entity(entity.strip(), exact=False)
    except ValueError as exc:
        raise ClientError(str(exc)) from None


async def _probe(http: aiohttp.ClientSession, method: str, entity: str) -> list[str]:
    try:
        async with http.request(method, entity, allow_redirects=True,
                                headers={"Accept": "text/html, */*;q=0.5"}) as resp:
            base = str(resp.url)
            links = header_links(resp.headers.getall("Link", []), REL_META_POST, base)
            if method == "GET" and not links and resp.status < 400 and \
                    resp.headers.get("Content-Type", "").lower().startswith("text/html"):
                text = await resp.text(errors="replace")
                links = html_links(text, REL_META_POST, base)
            return links
    except (aiohttp.ClientError, TimeoutError, OSError, UnicodeError, ValueError) as exc:
        raise ClientError(f"cannot reach {entity}: {str(exc) or type(exc).__name__}") from None


def check_meta(post: Any, entity: str) -> list[dict[str, Any]] | None:
    """The servers of a meta post that describes ``entity``, or None if it does not (§1.3 step 4)."""
    if not isinstance(post, dict):
        return None
    if base_version(post.get("type")) != META_BASE:
        return None
    content = post.get("content")
    if not isinstance(content, dict) or content.get("entity") != entity:
        return None
    servers = ordered_servers(content.get("servers") or [])
    return servers or None


async def discover(http: aiohttp.ClientSession, entity: str) -> Meta:
    """Find and check the meta post of ``entity``; raises ClientError when discovery fails."""
    entity = check_entity_url(entity)
    links = await _probe(http, "HEAD", entity)
    if not links:
        links = await _probe(http, "GET", entity)
    if not links:
        raise ClientError(f"{entity} does not link to a Tent meta post (no {REL_META_POST} link)")
    anonymous = TentSession(http)
    problems = []
    for url in dict.fromkeys(links):  # ordered, without duplicates
        try:
            reply = await anonymous.fetch("GET", url, accept=META_ACCEPT, sign=False, allow_redirects=True)
            body = reply.json()
        except ClientError as exc:
            problems.append(str(exc))
            continue
        post = body.get("post") if isinstance(body, dict) else None
        servers = check_meta(post, entity)
        if servers is None and isinstance(post, dict) and entity.endswith("/"):
            servers = check_meta(post, entity.rstrip("/"))  # a typed trailing slash is not a new entity
            entity = entity.rstrip("/") if servers else entity
        if servers is not None and isinstance(post, dict):
            return Meta(entity, post, servers)
        problems.append(f"{url} is not a meta post of {entity} with servers")
    raise ClientError(f"discovery of {entity} failed: " + "; ".join(problems))
