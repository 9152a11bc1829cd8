"""posts_feed: the latest version of every post the requester may see, newest first."""

from __future__ import annotations

from aiohttp import web

from tent.core import media
from tent.core.feed import page_links, parse_feed_query
from tent.handlers import proxy
from tent.handlers.common import (
    json_response,
    posts_of,
    principal_of,
    query_pairs,
    services_of,
    settings_of,
)


async def posts_feed(request: web.Request) -> web.Response:
    settings, principal = settings_of(request), principal_of(request)
    store = posts_of(request)
    query = parse_feed_query(query_pairs(request), app_level=principal.app_level)
    vis = principal.feed_visibility(settings.entity)
    headers = {}
    foreign = proxy.foreign_entities(request, query)
    if foreign:
        page, count = await proxy.merged_feed(request, query, foreign)
        if request.method == "HEAD":
            headers["Count"] = str(count)
    else:
        listing = store.feed(query, vis, private_mentions=principal.app_level)
        if request.method == "HEAD":
            headers["Count"] = str(await listing.count())
        # HEAD builds the body too: its ETag must equal GET's (aiohttp sends no body for HEAD).
        page = await listing.page()
    views = services_of(request).views
    body: dict = {
        "pages": page_links(query, page.posts, older_exist=page.older_exist),
        # posts from other servers come as those servers rendered them for us
        "posts": [p if p["entity"] in foreign else views.of(p, principal) for p in page.posts],
    }
    mode = proxy.mode_of(request, proxy.NO_PROXY)
    if query.max_refs:
        reader = services_of(request).reader
        body["refs"] = await reader.inline_refs(principal_of(request), page.posts, query.max_refs, mode)
    if query.profiles:
        body["profiles"] = await proxy.profiles(request, page.posts, query.profiles, mode)
    return json_response(
        request, body, content_type=media.FEED, public=principal.is_anonymous, headers=headers
    )
