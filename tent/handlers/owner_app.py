"""The owner's web app at /owner: compose, timeline, people, apps, deliveries, profile.

HTTP only. Every action calls the same domain functions the API handlers call
(`posting`, `following`, `profile`, the outbox and the stores), acting as the owner; every
form is a POST with the session's CSRF token and ends in a redirect with a flash message.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import orjson
from aiohttp import web

from tent.core import media
from tent.core.describe import describe_scope, describe_types, type_label
from tent.core.errors import NotFound, TentError
from tent.core.feed import parse_feed_query
from tent.core.posts import now_ms
from tent.core.principal import OWNER, Visibility
from tent.core.reasons import delivery_error_in_words
from tent.core.statuses import MAX_STATUS_LENGTH, StatusError, repost_body, status_body
from tent.core.type_uris import GROUP_BASE, META_TYPE, REPOST_BASE, STATUS_BASE
from tent.core.validation import validate_post
from tent.handlers import attachments, pages
from tent.handlers.common import (
    AUTH_STORE,
    BLOBS,
    PRINCIPAL,
    post_url,
    posts_of,
    services_of,
    settings_of,
)
from tent.handlers.owner import check_form, login_form, path, session_csrf
from tent.handlers.post_input import next_part, stage_file
from tent.handlers.views import attachment_url, post_view, repost_ref
from tent.services import profile
from tent.services.following import FollowFailed
from tent.store.federation import Delivery

TIMELINE_PAGE = 20
MAX_FIELD = 64 * 1024
DECIDED = ("yes", "no", "expire", "abort")
_RESULT_WORDS = {"yes": "approved", "no": "denied", "expire": "expired", "abort": "cancelled by the app"}


# -- plumbing -------------------------------------------------------------------------------


async def _page(
    request: web.Request,
    template: str,
    nav: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    script: bool = False,
) -> web.Response:
    csrf = await session_csrf(request)
    assert csrf is not None
    return pages.render(
        request,
        template,
        {"csrf": csrf, "nav": nav, "flash": pages.take_flash(request, csrf), **context},
        status=status,
        script=script,
    )


def _done(request: web.Request, csrf: str, where: str, message: str) -> NoReturn:
    """Redirect after a form, with a one-time message for the next page."""
    response = web.HTTPSeeOther(path(request, where))
    pages.set_flash(response, request, csrf, message)
    raise response


async def read_upload_form(
    request: web.Request, file_fields: tuple[str, ...]
) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """A multipart owner form: its text fields, and its files streamed into storage as the
    API streams attachments. The CSRF token (a field before the files) is checked before any
    byte of a file is stored."""
    csrf = await session_csrf(request)
    if media.parse_media_type(request.headers.get("Content-Type")).mime != "multipart/form-data":
        form = await check_form(request)
        return {k: [v] for k, v in form.items()}, []
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError, KeyError) as exc:
        raise TentError(f"Malformed multipart body: {exc}") from None
    fields: dict[str, list[str]] = {}
    uploads: list[dict[str, Any]] = []
    checked = False

    def check() -> None:
        sent = (fields.get("csrf") or [""])[0]
        if csrf is None or not hmac.compare_digest(sent.encode(), csrf.encode()):
            raise TentError("Forbidden: sign in again and resubmit the form", 403)

    blobs, staged = request.app[BLOBS], []
    try:
        while (part := await next_part(reader)) is not None:
            if part.filename is None:
                data = bytearray()
                while chunk := await part.read_chunk(8192):
                    data += chunk
                    if len(data) > MAX_FIELD:
                        raise TentError("Form field too large", 413)
                fields.setdefault(part.name or "", []).append(data.decode("utf-8", "replace"))
                continue
            if not checked:
                check()
                checked = True
            if not part.filename or part.name not in file_fields:
                await part.release()
                continue
            stored, entry = await stage_file(blobs, part, settings_of(request).max_attachment_size)
            staged.append(stored)
            uploads.append(entry)
        if not checked:
            check()
        await blobs.commit(staged)
    except BaseException:
        await blobs.discard(staged)
        raise
    return fields, uploads


def _one(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0]


async def _our_names(request: web.Request) -> dict[str, str]:
    settings = settings_of(request)
    meta = await posts_of(request).latest_of_type(settings.entity, META_TYPE)
    name = ((meta or {}).get("content") or {}).get("profile", {}).get("name")
    return {settings.entity: name} if isinstance(name, str) and name else {}


async def _reposted(request: web.Request, posts: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    keys = list({ref for ref in map(repost_ref, posts) if ref is not None})
    found: dict[tuple[str, str], Any] = {}
    if keys:
        for p in await posts_of(request).get_many(keys, Visibility()):
            found.setdefault((p["entity"], p["id"]), p)
    return found


# -- home: requests, compose, timeline ---------------------------------------------------------


async def home(
    request: web.Request,
    *,
    compose_error: str | None = None,
    draft: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    """Pending authorization requests (seeing them moves them from `sent` to `got`), the
    compose form and the timeline."""
    if await session_csrf(request) is None:
        return await login_form(request, request.path_qs)
    settings, store, auth_store = settings_of(request), posts_of(request), request.app[AUTH_STORE]
    now = now_ms()
    entries = await auth_store.list_requests(now, before=None, since=None, limit=100)
    pending = [e for e in entries if e.result in ("sent", "got")]
    await auth_store.mark_got([e.stamp for e in pending if e.result == "sent"], now)
    types = f"{STATUS_BASE},{REPOST_BASE}"
    params = [("types", types), ("sort_by", "published_at"), ("limit", str(TIMELINE_PAGE))]
    before = request.query.get("before")
    if before:
        params.append(("before", before))
    query = parse_feed_query(params, app_level=True)
    page = await store.feed(query, Visibility(), private_mentions=True).page()
    names = await _our_names(request)
    reposted = await _reposted(request, page.posts)
    older = None
    if page.older_exist and page.posts:
        last = page.posts[-1]
        older = f"{last['published_at']} {last['version']['id']}"
    reply_to = None
    draft = draft or {}
    reply_entity = draft.get("reply_entity") or request.query.get("reply_entity")
    reply_post = draft.get("reply_post") or request.query.get("reply_post")
    if reply_entity and reply_post:
        target = await store.get(reply_entity, reply_post)
        if target is not None:
            reply_to = post_view(target, settings, names=names, owner=True)
    groups_query = parse_feed_query([("types", GROUP_BASE), ("entities", settings.entity)], app_level=True)
    group_page = await store.feed(groups_query, Visibility(), private_mentions=True).page()
    groups = [
        {"id": g["id"], "name": str((g.get("content") or {}).get("name") or g["id"])}
        for g in group_page.posts
    ]
    return await _page(
        request,
        "owner/home.html",
        "home",
        {
            "pending": [
                {
                    "stamp": e.stamp,
                    "stamp_ms": e.stamp // 1_000_000,
                    "expire_at": e.expire_at,
                    "request": e.request,
                    "turf_verified": e.turf_verified,
                    "turf_reason": e.turf_reason,
                }
                for e in pending
            ],
            "posts": [post_view(p, settings, names=names, reposted=reposted, owner=True) for p in page.posts],
            "older": older,
            "newer": bool(before),
            "reply_to": reply_to,
            "max_length": MAX_STATUS_LENGTH,
            "compose_error": compose_error,
            "draft": draft.get("text", ""),
            "draft_entities": draft.get("entities", ""),
            "audience": draft.get("audience", "public"),
            "groups": groups,
        },
        status=status,
        script=True,
    )


def _permissions(fields: dict[str, list[str]]) -> dict[str, Any]:
    if _one(fields, "audience") != "private":
        return {"public": True}
    entities = [e.strip() for e in _one(fields, "entities").split() if e.strip()]
    for entity in entities:
        if not entity.startswith(("http://", "https://")):
            raise StatusError(f"{entity} is not an entity URL")
    groups = [{"post": g} for g in fields.get("group") or [] if g]
    out: dict[str, Any] = {"public": False}
    if entities:
        out["entities"] = entities
    if groups:
        out["groups"] = groups
    return out


async def compose(request: web.Request) -> web.Response:
    """Publish a status or a reply, public or private, with attachments."""
    fields, uploads = await read_upload_form(request, ("attachment",))
    csrf = _one(fields, "csrf")
    store = posts_of(request)
    draft = {k: _one(fields, k) for k in ("text", "entities", "audience", "reply_entity", "reply_post")}
    try:
        reply_to = None
        if draft["reply_entity"] and draft["reply_post"]:
            target = await store.get(draft["reply_entity"], draft["reply_post"])
            if target is None:
                raise StatusError("The post you reply to is gone.")
            reply_to = {"entity": target["entity"], "post": target["id"], "type": target["type"]}
        body = status_body(draft["text"], reply_to=reply_to)
        body["permissions"] = _permissions(fields)
        body, _ = validate_post(body)
        if uploads:
            body["attachments"] = uploads
    except (StatusError, TentError) as exc:
        message = str(exc) if isinstance(exc, StatusError) else str(exc.body().get("error", exc))
        return await home(request, compose_error=message[:1].upper() + message[1:], draft=draft, status=400)
    await services_of(request).posts.create(body, OWNER)
    kind = "reply" if reply_to else "status"
    extra = f" with {len(uploads)} attachment{'s' if len(uploads) != 1 else ''}" if uploads else ""
    _done(request, csrf, "/owner", f"Published your {kind}{extra}.")


async def repost(request: web.Request) -> web.Response:
    form = await check_form(request)
    original = await posts_of(request).get(form.get("entity", ""), form.get("post", ""))
    if original is None:
        raise NotFound()
    body, _ = validate_post(repost_body(original))
    await services_of(request).posts.create(body, OWNER)
    _done(request, form["csrf"], "/owner", f"Reposted the post by {original['entity']}.")


async def attachment(request: web.Request) -> web.StreamResponse:
    """Attachment bytes for the owner's pages: the session stands for the owner."""
    if await session_csrf(request) is None:
        raise NotFound()
    request[PRINCIPAL] = OWNER
    return await attachments.serve(request, settings_of(request).path_prefix + "/owner/attachments/")


# -- people ---------------------------------------------------------------------------------


async def people(
    request: web.Request, *, error: str | None = None, draft: str = "", status: int = 200
) -> web.Response:
    if await session_csrf(request) is None:
        return await login_form(request, request.path_qs)
    follows = services_of(request).follows
    return await _page(
        request,
        "owner/people.html",
        "people",
        {
            "followings": await follows.followings(),
            "followers": await follows.followers(),
            "follow_error": error,
            "draft_entity": draft,
        },
        status=status,
    )


async def follow(request: web.Request) -> web.Response:
    form = await check_form(request)
    entity = form.get("entity", "")
    try:
        followed = await services_of(request).follows.follow(entity)
    except FollowFailed as exc:
        return await people(request, error=str(exc), draft=entity, status=400)
    _done(request, form["csrf"], "/owner/people", f"Following {followed.name or followed.entity}.")


async def unfollow(request: web.Request) -> web.Response:
    form = await check_form(request)
    entity = form.get("entity", "")
    gone = await services_of(request).follows.unfollow(entity)
    message = f"Unfollowed {entity}." if gone else f"You did not follow {entity}."
    _done(request, form["csrf"], "/owner/people", message)


# -- apps -----------------------------------------------------------------------------------


async def apps(request: web.Request) -> web.Response:
    if await session_csrf(request) is None:
        return await login_form(request, request.path_qs)
    settings, auth_store = settings_of(request), request.app[AUTH_STORE]
    own = await services_of(request).grants.own_app_id()
    listed = []
    for row in await auth_store.grants(settings.entity):
        grant, app = row["grant"], row["app"] or {}
        content, app_content = grant.get("content") or {}, app.get("content") or {}
        listed.append(
            {
                "grant_id": grant["id"],
                "name": str(app_content.get("name", "")),
                "url": str(app_content.get("url", "")),
                "approved_at": grant.get("published_at"),
                "last_used_at": row["last_used_at"],
                "permissions": describe_types(content.get("types")),
                "scopes": [{"scope": s, "words": describe_scope(s)} for s in content.get("scopes") or []],
                "own": bool(own) and app.get("id") == own,
            }
        )
    entries = await auth_store.list_requests(now_ms(), before=None, since=None, limit=100)
    decided = [
        {
            "when": e.updated_at or e.stamp // 1_000_000,
            "name": str((e.request.get("app") or {}).get("name", "")),
            "result": _RESULT_WORDS.get(e.result, e.result),
        }
        for e in entries
        if e.result in DECIDED
    ]
    return await _page(request, "owner/apps.html", "apps", {"apps": listed, "decided": decided})


async def revoke(request: web.Request) -> web.Response:
    """Delete the grant and its key (the same path as the API's DELETE of an app-auth post)."""
    form = await check_form(request)
    name = await services_of(request).grants.revoke(request.match_info["grant"])
    _done(request, form["csrf"], "/owner/apps", f"Revoked {name}: its key no longer works.")


# -- deliveries -----------------------------------------------------------------------------


async def deliveries(request: web.Request) -> web.Response:
    if await session_csrf(request) is None:
        return await login_form(request, request.path_qs)
    settings = settings_of(request)
    rows = await services_of(request).deliveries.open()
    keys = list({(d.post_entity, d.post_id) for d in rows})
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for p in await posts_of(request).get_many(keys, Visibility()) if keys else []:
        found.setdefault((p["entity"], p["id"]), p)
    listed = []
    for d in rows:
        post = found.get((d.post_entity, d.post_id))
        text = ((post or {}).get("content") or {}).get("text")
        label = type_label(post["type"]) if post else "a deleted post"
        if isinstance(text, str):
            label += f": “{text[:60]}{'…' if len(text) > 60 else ''}”"
        listed.append(
            {
                "id": d.id,
                "kind": d.kind,
                "target": d.target,
                "state": d.state,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
                "reason": delivery_error_in_words(d.last_error),
                "post_url": post_url(settings, d.post_entity, d.post_id),
                "post_label": label,
            }
        )
    return await _page(request, "owner/deliveries.html", "deliveries", {"deliveries": listed})


def _delivery_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise NotFound() from None


async def _act_on_delivery(
    request: web.Request, action: Callable[[int], Awaitable[Delivery | None]], done: str
) -> NoReturn:
    """Retry or give up: the same form, the same refusal when a worker holds the delivery."""
    form = await check_form(request)
    row = await action(_delivery_id(request))
    if row is None:
        _done(request, form["csrf"], "/owner/deliveries", "That delivery is being sent or is done already.")
    _done(request, form["csrf"], "/owner/deliveries", done.format(target=row.target))


async def retry_delivery(request: web.Request) -> web.Response:
    deliveries = services_of(request).deliveries
    await _act_on_delivery(request, deliveries.retry_now, "Trying the delivery to {target} again now.")


async def give_up_delivery(request: web.Request) -> web.Response:
    deliveries = services_of(request).deliveries
    await _act_on_delivery(request, deliveries.give_up, "Gave up on the delivery to {target}.")


# -- profile --------------------------------------------------------------------------------


async def profile_page(request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
    if await session_csrf(request) is None:
        return await login_form(request, request.path_qs)
    settings = settings_of(request)
    meta = await posts_of(request).latest_of_type(settings.entity, META_TYPE)
    avatar = profile.avatar_of(meta)
    return await _page(
        request,
        "owner/profile.html",
        "profile",
        {
            "profile": ((meta or {}).get("content") or {}).get("profile") or {},
            "avatar_url": attachment_url(settings, settings.entity, avatar["digest"], owner=True)
            if avatar
            else None,
            "profile_error": error,
        },
        status=status,
    )


async def save_profile(request: web.Request) -> web.Response:
    fields, uploads = await read_upload_form(request, ("avatar",))
    values = {name: _one(fields, name) for name in profile.PROFILE_FIELDS}
    website = values["website"].strip()
    if website and not website.lower().startswith(("http://", "https://")):
        return await profile_page(request, error="The website must be a web address (https://…).", status=400)
    try:
        await profile.update_profile(
            services_of(request).posts, settings_of(request), values, uploads[0] if uploads else None
        )
    except TentError as exc:
        message = exc.body().get("error", "The profile was not saved.")
        diff = exc.body().get("diff")
        if diff:
            message += " " + orjson.dumps(diff).decode()
        return await profile_page(request, error=str(message), status=400)
    _done(
        request,
        _one(fields, "csrf"),
        "/owner/profile",
        "Saved your profile: a new version of your meta post.",
    )
