"""Discovery (the entity URL points at the meta post) and server_info."""

from __future__ import annotations

from aiohttp import web

import tent
from tent.core.errors import NotFound
from tent.core.media import REL_META_POST
from tent.core.type_uris import META_TYPE
from tent.handlers import public
from tent.handlers.common import json_response, post_url, posts_of, settings_of


async def _meta_url(request: web.Request) -> str:
    settings = settings_of(request)
    meta = await posts_of(request).latest_of_type(settings.entity, META_TYPE)
    if meta is None:
        raise NotFound()
    return post_url(settings, settings.entity, meta["id"])


async def entity_root(request: web.Request) -> web.Response:
    """HEAD and GET of the entity URL: a Link header, and for GET a page with the same link."""
    url = await _meta_url(request)
    headers = {"Link": f'<{url}>; rel="{REL_META_POST}"'}
    if request.method == "HEAD":
        return web.Response(headers=headers, content_type="text/html")
    return await public.entity_page(request, url, headers)


async def server_info(request: web.Request) -> web.Response:
    """No document defines server_info; this is decision D-07's shape."""
    settings = settings_of(request)
    return json_response(
        request,
        {
            "name": tent.SERVER_NAME,
            "version": tent.__version__,
            "tent_version": "0.3",
            "entity": settings.entity,
            # Extension: where apps without a browser ask for authorization (README).
            "authorization_requests": f"{settings.root}/oauth/requests",
            "owner_page": f"{settings.root}/owner",
            "deliveries": f"{settings.root}/deliveries",
        },
        public=True,
    )
