"""What a visitor's browser sees: the entity's profile with its recent public posts, and a
post's page. Only what an anonymous reader may read, through the same checks as the API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tent.core.errors import NotFound
from tent.core.feed import parse_feed_query
from tent.core.principal import ANONYMOUS
from tent.core.type_uris import META_TYPE, REPOST_BASE, STATUS_BASE
from tent.handlers import pages
from tent.handlers.common import posts_of, principal_of, services_of, settings_of
from tent.handlers.views import attachment_url, post_view, repost_ref
from tent.services.profile import avatar_of

RECENT = 20


async def _profile(request: web.Request) -> tuple[dict[str, Any], str | None, dict[str, str]]:
    settings = settings_of(request)
    meta = await posts_of(request).latest_of_type(settings.entity, META_TYPE)
    profile = ((meta or {}).get("content") or {}).get("profile") or {}
    avatar = avatar_of(meta)
    avatar_url = attachment_url(settings, settings.entity, avatar["digest"], owner=False) if avatar else None
    names = (
        {settings.entity: profile["name"]} if isinstance(profile.get("name"), str) and profile["name"] else {}
    )
    return profile, avatar_url, names


async def _readable_originals(
    request: web.Request, posts: list[dict[str, Any]]
) -> dict[tuple[str, str], Any]:
    """Reposted posts the visitor may read (ours and public), as the API would show them."""
    settings = settings_of(request)
    keys = list({ref for ref in map(repost_ref, posts) if ref is not None and ref[0] == settings.entity})
    found: dict[tuple[str, str], Any] = {}
    if keys:
        vis = ANONYMOUS.feed_visibility(settings.entity)
        for p in await posts_of(request).get_many(keys, vis):
            if ANONYMOUS.can_read(p, settings.entity):
                found.setdefault((p["entity"], p["id"]), p)
    return found


async def entity_page(request: web.Request, meta_url: str, headers: dict[str, str]) -> web.Response:
    settings = settings_of(request)
    profile, avatar_url, names = await _profile(request)
    query = parse_feed_query(
        [("types", f"{STATUS_BASE},{REPOST_BASE}"), ("sort_by", "published_at"), ("limit", str(RECENT))],
        app_level=False,
    )
    vis = ANONYMOUS.feed_visibility(settings.entity)
    page = await posts_of(request).feed(query, vis, private_mentions=False).page()
    posts = [p for p in page.posts if ANONYMOUS.can_read(p, settings.entity)]
    originals = await _readable_originals(request, posts)
    response = pages.render(
        request,
        "public/entity.html",
        {
            "profile": profile,
            "avatar_url": avatar_url,
            "meta_url": meta_url,
            "posts": [post_view(p, settings, names=names, reposted=originals) for p in posts],
        },
        public=True,
    )
    response.headers.update(headers)
    return response


async def post_page(request: web.Request, entity: str, post_id: str) -> web.Response:
    """A post's page for a browser; a post the visitor may not read is a plain 404 page."""
    settings = settings_of(request)
    version = request.query.get("version")
    try:
        post = await services_of(request).reader.readable_post(
            principal_of(request), entity, post_id, None if version in (None, "latest") else version
        )
    except NotFound:
        return pages.render(request, "public/not_found.html", {}, status=404)
    _, _, names = await _profile(request)
    originals = await _readable_originals(request, [post])
    view = post_view(post, settings, names=names, reposted=originals)
    text = view["text"] or (view["reposted"] or {}).get("text") or ""
    title = f"{view['author']}: {text[:60]}" if text else view["author"]
    return pages.render(
        request, "public/post.html", {"post": view, "title": title}, public=principal_of(request).is_anonymous
    )
