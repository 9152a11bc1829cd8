"""new_post, and GET/HEAD/PUT/DELETE of a post URL (with its versions/children/mentions lists)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from tent import grants, posting
from tent.auth.payload import checks_payload_while_streaming
from tent.core import media
from tent.core.errors import NotFound, TentError, Unauthorized
from tent.core.feed import FeedQuery, page_links, parse_feed_query, parse_profiles
from tent.core.posts import build_import, now_ms, restrict_permissions
from tent.core.principal import Principal, is_public
from tent.core.render import render_mention_item, render_post, render_version_item
from tent.core.type_uris import APP_AUTH_BASE, APP_BASE
from tent.core.types import PostType
from tent.handlers import attachments, federation, oauth, proxy, public
from tent.handlers.common import (
    FEDERATION,
    PUBLISHER,
    int_param,
    json_response,
    parse_post_path,
    posts_of,
    principal_of,
    query_pairs,
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
    store = posts_of(request)
    if post_type.base_version == APP_BASE:
        body = restrict_permissions(body, principal.has_scope("permissions"))
        # Registration: the app post plus the app credentials it fetches through the Link.
        app_post, creds = grants.build_app_registration(body, entity=settings.entity, app=principal.app)
        await grants.store_posts(store, app_post, creds)
        response = post_response(request, app_post, principal)
        response.headers["Link"] = oauth.credentials_link(request, creds)
        return response
    if post_type.base_version == APP_AUTH_BASE:
        body = restrict_permissions(body, principal.has_scope("permissions"))
        return await _direct_grant(request, body, principal)
    post = await posting.create_post(request.app[PUBLISHER], settings, body, principal)
    return post_response(request, post, principal)


async def _direct_grant(request: web.Request, body: dict[str, Any], principal: Principal) -> web.Response:
    """An app-auth post created by an app allowed to (§6.10): authorizes the app it mentions
    without the browser redirect; its credentials come through the same Link."""
    settings, store = settings_of(request), posts_of(request)
    mention = next(
        (
            m
            for m in body.get("mentions") or []
            if str(m.get("type", "")).startswith(APP_BASE + "#") and m.get("post")
        ),
        None,
    )
    app_post = await store.get(mention.get("entity") or settings.entity, mention["post"]) if mention else None
    if app_post is None or app_post["entity"] != settings.entity:
        raise TentError("Post must mention an app")
    content = body.get("content") or {}
    extra = {k: body[k] for k in ("refs", "licenses") if k in body}
    auth, creds = grants.build_grant(
        app_post,
        entity=settings.entity,
        types=content.get("types") or {},
        scopes=content.get("scopes") or [],
        app=principal.app,
        extra=extra,
    )
    await grants.store_posts(store, auth, creds)
    response = post_response(request, auth, principal)
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
        post = build_import({**body, "entity": entity, "id": post_id}, now=now_ms())
        await store.add_version(post)
        return post_response(request, post, principal)
    if rel == media.REL_NOTIFICATION:
        return await federation.receive_notification(request, post_input, entity, post_id)
    assert latest is not None
    body = await resolve_attachments(request, post_input, principal, settings.entity)
    post = await posting.new_version(request.app[PUBLISHER], body, latest, principal)
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
    record = await posting.delete_post(
        request.app[PUBLISHER],
        settings,
        post,
        principal,
        version=version,
        record=request.headers.get("Create-Delete-Post", "true") != "false",
        federation=request.app[FEDERATION],
    )
    if record is None:
        return web.Response(status=200)
    return post_response(request, record, principal)


# -- reading ---------------------------------------------------------------------------


async def readable_post(
    request: web.Request, entity: str, post_id: str, version: str | None
) -> dict[str, Any]:
    """The requested version, or the newest version this requester may read (D-10); 404s
    hide posts that exist but may not be read."""
    settings, principal = settings_of(request), principal_of(request)
    if entity != settings.entity and not principal.app_level:
        raise NotFound()
    store = posts_of(request)
    post = await store.get(entity, post_id, version)
    if post is not None and principal.can_read(post, settings.entity):
        return post
    if version is None and post is not None:
        visible = await store.get_many([(entity, post_id)], principal.feed_visibility(settings.entity))
        readable = [p for p in visible if principal.can_read(p, settings.entity)]
        if readable:
            return readable[0]
    raise NotFound()


async def inline_refs(
    request: web.Request, posts: list[dict[str, Any]], max_refs: int, mode: str
) -> list[dict[str, Any]]:
    """The posts referenced by each post's first `max_refs` refs that the requester may read:
    the pinned version when a ref names one, else the newest readable (D-23). Other
    entities' posts we hold no copy of are fetched from their servers unless `mode` is
    `no-proxy`; with `proxy` they always are (§8)."""
    settings, principal, store = settings_of(request), principal_of(request), posts_of(request)
    own_entity = settings.entity
    wanted: list[tuple[str, str, str | None]] = []
    for post in posts:
        for ref in (post.get("refs") or [])[:max_refs]:
            if isinstance(ref, dict) and isinstance(ref.get("post"), str):
                wanted.append((ref.get("entity") or post["entity"], ref["post"], ref.get("version")))
    wanted = list(dict.fromkeys(wanted))
    local = [w for w in wanted if mode != proxy.PROXY or w[0] == own_entity]
    if not local:
        found = []
    else:
        found = await store.get_many([(w[0], w[1]) for w in local], principal.feed_visibility(own_entity))
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    missing = []
    for entity, post_id, version in wanted:
        candidates = [
            p
            for p in found
            if p["entity"] == entity
            and p["id"] == post_id
            and (version is None or p["version"]["id"] == version)
            and principal.can_read(p, own_entity)
        ]
        if not candidates:
            if entity != own_entity:
                missing.append((entity, post_id, version))
            continue
        chosen = candidates[0]
        key = (chosen["entity"], chosen["id"], chosen["version"]["id"])
        if key not in seen:
            seen.add(key)
            out.append(render_post(chosen, principal))
    if missing and mode != proxy.NO_PROXY and principal.app_level:
        out.extend(await request.app[FEDERATION].proxy.referenced(missing))
    return out


_ATTACHMENT_PATH = re.compile(r"^(?P<entity>.+)/(?P<post>[^/]+)/attachments/(?P<name>[^/]+)$")


async def get_post(request: web.Request) -> web.Response:
    prefix = settings_of(request).path_prefix + "/posts/"
    m = _ATTACHMENT_PATH.match(request.raw_path.split("?", 1)[0][len(prefix) :])
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
    post = await readable_post(request, entity, post_id, version)
    extra: dict[str, Any] = {}
    max_refs = int_param(request, "max_refs")
    kinds = parse_profiles(request.query.get("profiles"))
    if principal.app_level:
        mode = proxy.mode_of(request, proxy.PROXY_IF_MISS)
        if max_refs:
            extra["refs"] = await inline_refs(request, [post], min(max_refs, 5), mode)
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
    post = await readable_post(request, entity, post_id, None if version in (None, "latest") else version)
    query = _list_query(request)
    vis = principal.feed_visibility(settings.entity)

    async def fetch(count: bool) -> Page | int:
        if kind == media.VERSIONS:
            return await store.versions(entity, post_id, query, vis, count=count)
        if kind == media.CHILDREN:
            return await store.children(entity, post_id, post["version"]["id"], query, vis, count=count)
        return await store.mentioning(
            entity, post_id, query, vis, private_mentions=principal.app_level, count=count
        )

    headers = {"Count": str(await fetch(True))} if request.method == "HEAD" else {}
    page = await fetch(False)
    assert isinstance(page, Page)
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
