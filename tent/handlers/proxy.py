"""Answering from other entities' servers (§8): posts and their lists, `post_attachment`,
attachment bytes (streamed through), the feed for foreign `entities=`, and the `profiles`
of a response. Only the owner and authorized apps (`principal.app_level`) get here; for
anyone else other entities' data is answered from nothing (`404`) or left out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from tent.core.errors import TentError
from tent.core.feed import FeedQuery, merge_pages
from tent.core.profiles import profile_entities, profile_of
from tent.delivery.client import Response
from tent.delivery.proxy import NO_PROXY, PROXY, PROXY_IF_MISS, Proxy, ProxyFailed, RemotePage, proxy_mode
from tent.handlers.common import FEDERATION, attachment_url, posts_of, principal_of, settings_of
from tent.store.posts import Page

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
_DIGEST = re.compile(r"^(?:sha512t256-)?[0-9a-f]{64}$")
# The feed parameters we answer ourselves over the merged page, not asked upstream.
_LOCAL_PARAMS = ("entities", "limit", "max_refs", "profiles")


def mode_of(request: web.Request, default: str) -> str:
    """The request's proxy mode; `no-proxy` for anyone who may not make us proxy."""
    if not principal_of(request).app_level:
        return NO_PROXY
    return proxy_mode(request.headers.get("Cache-Control"), default)


def _proxy(request: web.Request) -> Proxy:
    return request.app[FEDERATION].proxy


def _failed(exc: ProxyFailed) -> TentError:
    return TentError(str(exc), exc.status)


def _passthrough(resp: Response) -> web.Response:
    """The upstream status and body as they are, with only these headers copied (§8)."""
    headers = {k: resp.headers[k] for k in ("Content-Type", "ETag") if k in resp.headers}
    return web.Response(status=resp.status, body=resp.body, headers=headers)


async def should_proxy(request: web.Request, entity: str, post_id: str, version: str | None) -> bool:
    """Another entity's post: `proxy` always asks its server, `proxy-if-miss` (the default
    here) when we hold no copy of that version, `no-proxy` never."""
    if entity == settings_of(request).entity:
        return False
    mode = mode_of(request, PROXY_IF_MISS)
    if mode == PROXY_IF_MISS:
        return await posts_of(request).get(entity, post_id, version) is None
    return mode == PROXY


async def post(request: web.Request, entity: str, post_id: str) -> web.Response:
    """GET of another entity's post or one of its lists; the query is passed on."""
    query = request.rel_url.raw_query_string
    try:
        resp = await _proxy(request).post(
            entity, post_id, "?" + query if query else "", request.headers.get("Accept")
        )
    except ProxyFailed as exc:
        raise _failed(exc) from None
    return _passthrough(resp)


async def post_attachment(request: web.Request, entity: str, post_id: str, name: str) -> web.Response:
    """Ask the entity's server which attachment it would send, and answer with our own `302`
    to our `attachment` URL for the digest it names (`Attachment-Digest`)."""
    version = request.query.get("version")
    try:
        resp = await _proxy(request).request(
            entity,
            "post_attachment",
            {"entity": entity, "post": post_id, "name": name},
            query=f"?version={quote(version, safe='')}" if version else "",
            headers={"Accept": request.headers.get("Accept") or "*/*"},
            follow_redirects=False,
        )
    except ProxyFailed as exc:
        raise _failed(exc) from None
    digest = resp.headers.get("Attachment-Digest", "")
    if 300 <= resp.status < 400 and _DIGEST.match(digest):
        location = attachment_url(settings_of(request), entity, digest)
        return web.Response(status=302, headers={"Location": location, "Attachment-Digest": digest})
    return _passthrough(resp)


async def attachment(request: web.Request, entity: str, digest: str) -> web.StreamResponse:
    """Another entity's attachment bytes, streamed from its server chunk by chunk (never
    held whole); `Range` and `If-None-Match` are passed on, and the status with them."""
    method = "HEAD" if request.method == "HEAD" else "GET"
    headers = {"Accept": request.headers.get("Accept") or "*/*"}
    for name in ("Range", "If-None-Match"):
        if name in request.headers:
            headers[name] = request.headers[name]
    try:
        async with _proxy(request).stream(
            entity, "attachment", {"entity": entity, "digest": digest}, headers=headers, method=method
        ) as upstream:
            copied = ("Content-Type", "ETag", "Content-Range", "Content-Disposition", "Accept-Ranges")
            out = {k: upstream.headers[k] for k in copied if k in upstream.headers}
            response = web.StreamResponse(status=upstream.status, headers=out)
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            if method == "GET":
                try:
                    async for chunk in upstream.content.iter_chunked(CHUNK):
                        await response.write(chunk)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    # The status is sent already: all that is left is to cut the connection.
                    log.info("proxied attachment %s from %s broke off: %r", digest, entity, exc)
                    raise ConnectionResetError from exc
            await response.write_eof()
            return response
    except ProxyFailed as exc:
        raise _failed(exc) from None


# -- the feed ------------------------------------------------------------------------------


def foreign_entities(request: web.Request, query: FeedQuery) -> list[str]:
    """The entities of `entities=` whose feeds are fetched from their servers: only with
    `Cache-Control: proxy` (the feed does not proxy by default, §3.6)."""
    if mode_of(request, NO_PROXY) != PROXY:
        return []
    own = settings_of(request).entity
    return [e for e in dict.fromkeys(query.entities) if e != own]


async def merged_feed(request: web.Request, query: FeedQuery, foreign: Sequence[str]) -> tuple[Page, int]:
    """Our page for the local entities, each foreign entity's page from its server, merged
    by the sort key (D-48); with the total count for HEAD."""
    settings, principal, store = settings_of(request), principal_of(request), posts_of(request)
    local = dataclasses.replace(query, entities=tuple(e for e in query.entities if e not in foreign))
    vis = principal.feed_visibility(settings.entity)
    head = request.method == "HEAD"
    kept = [(k, v) for k, v in query.params if k not in _LOCAL_PARAMS] + [("limit", str(query.limit))]
    accept = request.headers.get("Accept")

    async def ours() -> tuple[Page, int]:
        if not local.entities:
            return Page([], False), 0
        listing = store.feed(local, vis, private_mentions=principal.app_level)
        page = await listing.page()
        count = await listing.count() if head else 0
        return page, count

    try:
        (page, count), *remote = await asyncio.gather(
            ours(),
            *(_proxy(request).feed(e, [*kept, ("entities", e)], accept, count=head) for e in foreign),
        )
    except ProxyFailed as exc:
        raise _failed(exc) from None
    pages: list[RemotePage] = remote
    posts, older = merge_pages(
        query, [(page.posts, page.older_exist), *((r.posts, r.older_exist) for r in pages)]
    )
    return Page(posts, older), count + sum(r.count for r in pages)


async def profiles(
    request: web.Request, posts: Sequence[dict[str, Any]], kinds: Sequence[str], mode: str
) -> dict[str, Any]:
    """The `profiles` object: each selected entity's meta `profile` (with `avatar_digest`),
    from stored meta posts, else fetched by discovery as `mode` allows."""
    settings, principal = settings_of(request), principal_of(request)
    entities = profile_entities(posts, kinds)
    if not entities or not principal.app_level:
        return {}
    metas = await _proxy(request).metas(entities, mode, principal.feed_visibility(settings.entity))
    out = {}
    for entity in entities:
        profile = profile_of(metas[entity]) if entity in metas else None
        if profile is not None:
            out[entity] = profile
    return out
