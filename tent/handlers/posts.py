"""new_post, and GET/HEAD/PUT/DELETE of a post URL (with its versions/children/mentions lists)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from tent.auth.payload import checks_payload_while_streaming
from tent.core import media
from tent.core.errors import NotFound, TentError, Unauthorized
from tent.core.feed import FeedQuery, page_links, parse_feed_query, parse_profiles
from tent.core.principal import Principal, is_public
from tent.core.render import render_mention_item, render_post, render_version_item
from tent.core.type_uris import APP_AUTH_BASE, APP_BASE
from tent.core.types import PostType
from tent.handlers import attachments, federation, oauth, proxy, public
from tent.handlers.common import (
    int_param,
    json_response,
    parse_post_path,
    posts_of,
    principal_of,
    query_pairs,
    services_of,
    settings_of,
)
from tent.handlers.post_input import read_post, resolve_attachments
from tent.store.posts import Page


def post_response(
    request: web.Request, post: dict[str, Any], principal: Principal, extra: dict[str, Any] | None = None
) -> web.Response:
    return json_response(
        request,
        {"post": render_post(post, principal), **(extra or {})},
        content_type=media.post_media_type(post["type"]),
        public=principal.is_anonymous and is_public(post),
        vary_accept=True,
    )


def may_create(principal: Principal, post_type: PostType, type_uri: str) -> bool:
    """Anonymous requests may only register apps (D-19)."""
    if principal.is_anonymous:
        return post_type.base_version == APP_BASE
    return principal.can_write_type(type_uri)


@checks_payload_while_streaming
async def new_post(request: web.Request) -> web.Response:
    settings, principal = settings_of(request), principal_of(request)

    async def authorize(body: dict[str, Any], post_type: PostType, _: media.MediaType) -> None:
        if not may_create(principal, post_type, body["type"]):
            raise Unauthorized(403)

    post_input = await read_post(request, authorize)
    post_type = post_input.post_type
    body = await resolve_attachments(request, post_input, principal, settings.entity)
    services = services_of(request)
    if post_type.base_version == APP_BASE:
        # Registration: the app post plus the app credentials it fetches through the Link.
        post, creds = await services.grants.register_app(body, principal)
    elif post_type.base_version == APP_AUTH_BASE:
        post, creds = await services.grants.direct_grant(body, principal)
    else:
        return post_response(request, await services.posts.create(body, principal), principal)
    response = post_response(request, post, principal)
    response.headers["Link"] = oauth.credentials_link(request, creds)
    return response


@checks_payload_while_streaming
async def put_post(request: web.Request) -> web.Response:
    settings, principal = settings_of(request), principal_of(request)
    entity, post_id = parse_post_path(request)
    store = posts_of(request)
    latest: dict[str, Any] | None = None

    async def authorize(body: dict[str, Any], _: PostType, media_type: media.MediaType) -> None:
        nonlocal latest
        rel = media_type.params.get("rel")
        if rel == media.REL_IMPORT:
            if not (principal.has_scope("import") and principal.can_write_type(body["type"])):
                raise Unauthorized(401 if principal.is_anonymous else 403)
        elif rel == media.REL_NOTIFICATION:
            federation.authorize_notification(principal, body, entity, post_id)
        elif rel is not None:
            raise TentError(f"Unknown rel: {rel}")
        else:
            if principal.is_anonymous:
                raise Unauthorized(401)
            latest = await store.get(entity, post_id)
            if latest is None or not principal.can_read(latest, settings.entity):
                raise NotFound()
            if entity != settings.entity or not principal.may_update(latest, body["type"]):
                raise Unauthorized(403)

    post_input = await read_post(request, authorize)
    body, rel = post_input.body, post_input.rel
    if rel == media.REL_IMPORT:
        body = await resolve_attachments(request, post_input, principal, settings.entity, check_known=False)
        post = await services_of(request).posts.import_version(body, entity, post_id)
        return post_response(request, post, principal)
    if rel == media.REL_NOTIFICATION:
        return await federation.receive_notification(request, post_input, entity, post_id)
    assert latest is not None
    body = await resolve_attachments(request, post_input, principal, settings.entity)
    post = await services_of(request).posts.new_version(body, latest, principal)
    return post_response(request, post, principal)


async def delete_post(request: web.Request) -> web.Response:
    settings, principal = settings_of(request), principal_of(request)
    entity, post_id = parse_post_path(request)
    version = request.query.get("version")
    store = posts_of(request)
    post = await store.get(entity, post_id, version)
    if post is None or not principal.can_read(post, settings.entity):
        raise NotFound()
    if not principal.may_update(post, post["type"]):
        raise Unauthorized(401 if principal.is_anonymous else 403)
    record = await services_of(request).posts.delete(
        post,
        principal,
        version=version,
        record=request.headers.get("Create-Delete-Post", "true") != "false",
    )
    if record is None:
        return web.Response(status=200)
    return post_response(request, record, principal)


# -- reading ---------------------------------------------------------------------------


_ATTACHMENT_PATH = re.compile(r"^(?P<entity>.+)/(?P<post>[^/]+)/attachments/(?P<name>[^/]+)$")


async def get_post(request: web.Request) -> web.Response:
    prefix = settings_of(request).path_prefix + "/posts/"
    path = request.raw_path.split("?", 1)[0][len(prefix) :]
    m = _ATTACHMENT_PATH.match(path) if "/attachments/" in path else None
    if m and "://" in unquote_plus(m["entity"]):
        return await attachments.post_attachment(
            request, unquote_plus(m["entity"]), unquote_plus(m["post"]), unquote_plus(m["name"])
        )
    entity, post_id = parse_post_path(request)
    principal = principal_of(request)
    version = request.query.get("version")
    version = None if version in (None, "latest") else version
    if await proxy.should_proxy(request, entity, post_id, version):
        return await proxy.post(request, entity, post_id)
    if media.prefers_html(request.headers.get("Accept")):
        return await public.post_page(request, entity, post_id)
    representation = media.choose_post_representation(request.headers.get("Accept"))
    if representation != media.POST:
        return await _post_list(request, entity, post_id, representation)
    post = await services_of(request).reader.readable_post(principal, entity, post_id, version)
    extra: dict[str, Any] = {}
    max_refs = int_param(request, "max_refs")
    kinds = parse_profiles(request.query.get("profiles"))
    if principal.app_level:
        mode = proxy.mode_of(request, proxy.PROXY_IF_MISS)
        if max_refs:
            reader = services_of(request).reader
            extra["refs"] = await reader.inline_refs(principal, [post], min(max_refs, 5), mode)
        if kinds:
            extra["profiles"] = await proxy.profiles(request, [post], kinds, mode)
    return post_response(request, post, principal, extra)


def _list_query(request: web.Request) -> FeedQuery:
    """Lists page like the feed, keyed on (version.received_at, version id) (D-25)."""
    params = [(k, v) for k, v in query_pairs(request) if k not in ("sort_by", "version")]
    query = parse_feed_query(params, app_level=principal_of(request).app_level)
    return dataclasses.replace(query, sort_by="version.received_at", max_refs=0)


async def _post_list(request: web.Request, entity: str, post_id: str, kind: str) -> web.Response:
    settings, principal = settings_of(request), principal_of(request)
    store = posts_of(request)
    version = request.query.get("version")
    version = None if version in (None, "latest") else version
    post = await services_of(request).reader.readable_post(principal, entity, post_id, version)
    query = _list_query(request)
    vis = principal.feed_visibility(settings.entity)

    if kind == media.VERSIONS:
        listing = store.versions(entity, post_id, query, vis)
    elif kind == media.CHILDREN:
        listing = store.children(entity, post_id, post["version"]["id"], query, vis)
    else:
        listing = store.mentioning(entity, post_id, query, vis, private_mentions=principal.app_level)
    headers = {"Count": str(await listing.count())} if request.method == "HEAD" else {}
    page = await listing.page()
    return json_response(
        request,
        _list_body(kind, page, query, entity, post_id, principal),
        content_type=kind,
        vary_accept=True,
        headers=headers,
        public=principal.is_anonymous,
    )


def _list_body(
    kind: str, page: Page, query: FeedQuery, entity: str, post_id: str, principal: Principal
) -> dict[str, Any]:
    pages = page_links(query, page.posts, older_exist=page.older_exist)
    if kind in (media.VERSIONS, media.CHILDREN):
        items = [render_version_item(p, principal) for p in page.posts]
        return {"versions": items, "pages": pages}
    items = []
    for p in page.posts:
        mention = next(
            (m for m in p.get("mentions") or [] if m.get("entity") == entity and m.get("post") == post_id), {}
        )
        items.append(render_mention_item(p, entity, mention.get("public") is not False))
    return {"mentions": items, "pages": pages}
