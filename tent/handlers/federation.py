"""Federation endpoints: incoming notifications (§7.5) and relationship offers (§7.2),
server-side discovery (§1.6), and the owner's view of deliveries (who has each post, who is
pending, who failed) with an immediate retry. Proxying (§8) is `tent.handlers.proxy`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from tent.core import media
from tent.core.errors import NotFound, TentError, Unauthorized
from tent.core.input_safety import bounded_int, is_url
from tent.core.principal import Principal
from tent.core.render import render_post
from tent.core.type_uris import (
    APP_AUTH_TYPE,
    RELATIONSHIP_INITIAL_TYPE,
)
from tent.delivery.discovery import DiscoveryFailed
from tent.handlers.common import (
    FEDERATION,
    json_response,
    posts_of,
    principal_of,
    services_of,
    settings_of,
)
from tent.handlers.post_input import PostInput, finish_body


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
    await finish_body(post_input)  # attachments of notifications are not kept (README)
    copy, link = await services_of(request).posts.receive(
        post_input.body, url_entity, request.headers.getall("Link", [])
    )
    return _post_reply(copy, principal_of(request), {"Link": link} if link else None)


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
    rows = await services_of(request).deliveries.for_post(entity, post_id)
    return json_response(request, {"post": post_id, "deliveries": [d.as_json() for d in rows]})


async def retry(request: web.Request) -> web.Response:
    """POST /deliveries/{id}/retry: try a pending or failed delivery now."""
    _owner(principal_of(request))
    try:
        delivery_id = bounded_int("delivery id", request.match_info["id"])
    except TentError:
        raise NotFound() from None
    row = await services_of(request).deliveries.retry_now(delivery_id)
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
    row = await services_of(request).deliveries.give_up(delivery_id)
    if row is None:
        raise NotFound()
    return json_response(request, row.as_json())
