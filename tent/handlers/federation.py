"""Federation endpoints: incoming notifications (§7.5) and relationship offers (§7.2),
server-side discovery (§1.6), and the owner's view of deliveries (who has each post, who is
pending, who failed) with an immediate retry. Proxying (§8) is `tent.handlers.proxy`."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from tent.core import media
from tent.core.errors import NotFound, TentError, Unauthorized
from tent.core.input_safety import bounded_int, is_url
from tent.core.posts import build_received, now_ms
from tent.core.principal import Principal
from tent.core.render import render_post
from tent.core.type_uris import (
    APP_AUTH_TYPE,
    DELETE_TYPE,
    META_BASE,
    RELATIONSHIP_BASE,
    RELATIONSHIP_INITIAL_TYPE,
    SUBSCRIPTION_BASE,
)
from tent.core.types import base_version
from tent.delivery.discovery import DiscoveryFailed
from tent.delivery.federation import RelationshipFailed
from tent.handlers.common import (
    FEDERATION,
    FEDERATION_STORE,
    OUTBOX,
    PUBLISHER,
    json_response,
    posts_of,
    principal_of,
    settings_of,
)
from tent.handlers.post_input import PostInput, finish_body

log = logging.getLogger(__name__)


def _post_reply(
    post: dict[str, Any], principal: Principal, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps({"post": render_post(post, principal)}),
        content_type=None,
        headers={"Content-Type": media.post_media_type(post["type"]), **(headers or {})},
    )


def authorize_notification(
    principal: Principal, body: dict[str, Any], url_entity: str, url_post_id: str
) -> None:
    """Who may deliver this post (§3.3 c), decided before its content is validated: the URL
    names the post, and (D-36) the URL entity, the body's entity and the signing peer agree.
    A relationship offer is unauthenticated (§7.2)."""
    if body.get("entity") != url_entity or body.get("id") != url_post_id:
        if body.get("type") == RELATIONSHIP_INITIAL_TYPE:
            raise TentError("Invalid relationship post!")
        raise Unauthorized(403)
    is_peer = principal.kind == "peer" and principal.entity == url_entity
    if body["type"] != RELATIONSHIP_INITIAL_TYPE and not is_peer:
        raise Unauthorized(403)


async def receive_notification(
    request: web.Request, post_input: PostInput, url_entity: str, url_post_id: str
) -> web.Response:
    body = post_input.body
    principal = principal_of(request)
    fed = request.app[FEDERATION]
    await finish_body(post_input)  # attachments of notifications are not kept (README)
    if body["type"] == RELATIONSHIP_INITIAL_TYPE:
        try:
            ra, link = await fed.accept_initiation(body, request.headers.getall("Link", []))
        except RelationshipFailed as exc:
            log.info("refused a relationship offer from %s: %s", url_entity, exc)
            raise TentError(str(exc)) from None
        copy = build_received(ra, now=now_ms())
        await posts_of(request).add_version(copy)
        return _post_reply(copy, principal, {"Link": link})
    now = now_ms()
    copy = build_received(body, now=now)
    store, fed_store = posts_of(request), request.app[FEDERATION_STORE]
    async with store.pool.acquire() as conn, conn.transaction():
        stored = await store.add_version(copy, conn)
        if stored:
            await _effects(request, copy, url_entity, conn)
            await request.app[PUBLISHER].dispatch(copy, conn, remote=True)
    await fed_store.reset_backoff(url_entity, now)
    return _post_reply(copy, principal)


async def _effects(request: web.Request, post: dict[str, Any], sender: str, conn: Any) -> None:
    """What a delivered post changes here besides being stored (§7.5 step 4)."""
    settings, store, fed_store = settings_of(request), posts_of(request), request.app[FEDERATION_STORE]
    base = base_version(post["type"])
    if post["type"] == DELETE_TYPE:
        for ref in post.get("refs") or []:
            if (ref.get("entity") or sender) != sender or not ref.get("post"):
                continue  # a delete is only honoured for the sender's own posts (§7.10)
            deleted = await store.get(sender, ref["post"])
            if ref.get("version"):
                await store.delete_version(sender, ref["post"], ref["version"], conn)
            else:
                await store.delete_post(sender, ref["post"], conn)
            await fed_store.remove_subscription(sender, ref["post"])
            deleted_type = str((deleted or {}).get("type", ""))
            if deleted_type.startswith(SUBSCRIPTION_BASE + "#"):
                await request.app[FEDERATION].unsubscribed(sender, conn)
            elif deleted_type.startswith(RELATIONSHIP_BASE + "#") and not ref.get("version"):
                await request.app[FEDERATION].relationship_removed(sender, conn)
    elif base == SUBSCRIPTION_BASE:
        mentions = post.get("mentions") or []
        selector = (post.get("content") or {}).get("type")
        if mentions and mentions[0].get("entity") == settings.entity and isinstance(selector, str):
            await fed_store.add_subscription(sender, selector, post["id"])
    elif base == META_BASE:
        await fed_store.set_remote_meta(sender, post, now_ms())
        request.app[FEDERATION].discovery.remember(sender, post)


async def discover(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if not principal.app_level:
        raise Unauthorized(403)
    entity = request.query.get("entity", "")
    if not entity.startswith(("http://", "https://")) or not is_url(entity):
        raise TentError("Entity param must be a valid url: " + orjson.dumps(entity).decode())
    try:
        meta = await request.app[FEDERATION].discovery.meta(entity)
    except DiscoveryFailed as exc:
        raise TentError(f"Discovery failed: {exc}", 404) from None
    return json_response(request, {"post": meta}, content_type=media.post_media_type(meta["type"]))


def _owner(principal: Principal) -> None:
    if not principal.can_write_type(APP_AUTH_TYPE):
        raise Unauthorized(401 if principal.is_anonymous else 403)


async def deliveries(request: web.Request) -> web.Response:
    """GET /deliveries?post=ID: every recipient of that post of ours and where it stands.
    The owner sees any post's; an app sees those of posts it may read (so a client can tell
    its user who has not got a post yet)."""
    principal = principal_of(request)
    post_id = request.query.get("post")
    if not post_id:
        _owner(principal)
        raise TentError("post required")
    entity = request.query.get("entity") or settings_of(request).entity
    if not principal.can_write_type(APP_AUTH_TYPE):
        if principal.kind != "authorized_app":
            _owner(principal)
        post = await posts_of(request).get(entity, post_id)
        if post is None or not principal.can_read(post, settings_of(request).entity):
            raise NotFound()
    rows = await request.app[FEDERATION_STORE].for_post(entity, post_id)
    return json_response(request, {"post": post_id, "deliveries": [d.as_json() for d in rows]})


async def retry(request: web.Request) -> web.Response:
    """POST /deliveries/{id}/retry: try a pending or failed delivery now."""
    _owner(principal_of(request))
    try:
        delivery_id = bounded_int("delivery id", request.match_info["id"])
    except TentError:
        raise NotFound() from None
    row = await request.app[FEDERATION_STORE].retry_now(delivery_id, now_ms())
    if row is None:
        raise NotFound()
    return json_response(request, row.as_json())


async def give_up(request: web.Request) -> web.Response:
    """POST /deliveries/{id}/give-up: stop a pending delivery (reported like any failure)."""
    _owner(principal_of(request))
    try:
        delivery_id = int(request.match_info["id"])
    except ValueError:
        raise NotFound() from None
    row = await request.app[OUTBOX].give_up(delivery_id)  # type: ignore[attr-defined]
    if row is None:
        raise NotFound()
    return json_response(request, row.as_json())
