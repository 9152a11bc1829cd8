"""OAuth for apps (docs/protocol.md §6): app registration side effects, oauth_auth with the
owner's approval (or automatic in test mode), and the token exchange."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from tent import grants
from tent.auth.hawk import bewit_url
from tent.core.errors import TentError, Unauthorized
from tent.core.input_safety import check_json
from tent.core.media import REL_CREDENTIALS
from tent.core.posts import now_ms
from tent.core.type_uris import APP_BASE
from tent.core.types import parse_type
from tent.handlers import owner, pages
from tent.handlers.common import (
    AUTH_STORE,
    SERVER_CREDENTIALS,
    json_response,
    posts_of,
    principal_of,
    settings_of,
    signed_post_url,
)
from tent.http_input import read_body

CODE_LIFETIME_MS = 10 * 60 * 1000
CREDENTIALS_LINK_SECONDS = 24 * 3600  # D-51


def credentials_link(request: web.Request, credentials: dict[str, Any]) -> str:
    """`Link` to a bewit-signed URL of a credentials post: whoever holds it may fetch the key."""
    settings = settings_of(request)
    url = signed_post_url(settings, settings.entity, credentials["id"])
    signed = bewit_url(request.app[SERVER_CREDENTIALS], url, int(time.time()) + CREDENTIALS_LINK_SECONDS)
    return f'<{signed}>; rel="{REL_CREDENTIALS}"'


def redirect_with(uri: str, params: dict[str, str]) -> str:
    """Append query parameters, URL-encoded (D-38), to a redirect URI that may have a query."""
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


async def find_app(request: web.Request, app_id: str | None) -> dict[str, Any]:
    if not app_id:
        raise TentError("client_id missing")
    settings = settings_of(request)
    post = await posts_of(request).get(settings.entity, app_id)
    parsed = parse_type(post["type"]) if post else None
    if post is None or parsed is None or parsed.base_version != APP_BASE:
        raise TentError("invalid client_id")
    return post


def _redirect_uri(app: dict[str, Any]) -> str:
    uri = str((app.get("content") or {}).get("redirect_uri", ""))
    if not uri or uri.split(":", 1)[0].lower() in ("javascript", "data", "vbscript"):
        raise TentError("App has no usable redirect_uri")
    return uri


async def grant_with_code(request: web.Request, app: dict[str, Any]) -> str:
    """Authorize the app for what it asked, and return a single-use code for the exchange."""
    settings = settings_of(request)
    types, scopes = grants.requested_grant(app)
    auth, creds = grants.build_grant(app, entity=settings.entity, types=types, scopes=scopes)
    code = secrets.token_urlsafe(24)
    store = posts_of(request)
    async with store.pool.acquire() as conn, conn.transaction():
        await grants.store_posts(store, auth, creds, conn=conn)
        await request.app[AUTH_STORE].add_code(
            code, app["id"], creds["id"], now_ms() + CODE_LIFETIME_MS, conn
        )
    return code


async def authorize(request: web.Request) -> web.StreamResponse:
    """GET oauth_auth: approve at once in test mode, else show the owner what the app wants."""
    settings = settings_of(request)
    app = await find_app(request, request.query.get("client_id"))
    redirect_uri = _redirect_uri(app)
    state = request.query.get("state")
    if settings.app_approval == "auto":
        code = await grant_with_code(request, app)
        params = {"code": code, **({"state": state} if state is not None else {})}
        raise web.HTTPFound(redirect_with(redirect_uri, params))
    csrf = await owner.session_csrf(request)
    if csrf is None:
        return await owner.login_form(request, request.path_qs)
    types, scopes = grants.requested_grant(app)
    hidden = {"client_id": app["id"], "csrf": csrf, **({"state": state} if state is not None else {})}
    return pages.consent_page(
        request, app, types, scopes, action=request.path, hidden=hidden, redirect_uri=redirect_uri
    )


async def decide(request: web.Request) -> web.StreamResponse:
    """POST from the approval page: the owner's decision."""
    form = await owner.check_form(request)
    app = await find_app(request, form.get("client_id"))
    redirect_uri = _redirect_uri(app)
    state = {"state": form["state"]} if "state" in form else {}
    if form.get("decision") == "approve":
        code = await grant_with_code(request, app)
        raise web.HTTPFound(redirect_with(redirect_uri, {"code": code, **state}))
    raise web.HTTPFound(redirect_with(redirect_uri, {"error": "access_denied", **state}))


async def token(request: web.Request) -> web.Response:
    """POST oauth_token: exchange a code, signed with that app's app credentials (§6.4)."""
    try:
        body = orjson.loads(await read_body(request) or b"null")
    except orjson.JSONDecodeError:
        body = None
    check_json(body)
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not code:
        raise TentError("Token code required!")
    store = request.app[AUTH_STORE]
    app_id = await store.code_app(code, now_ms())
    if app_id is None:
        raise TentError("Invalid token code", 403)
    principal = principal_of(request)
    if principal.kind != "app" or principal.app_post_id != app_id:
        raise Unauthorized(401, "Request must be signed using app credentials")
    used = await store.use_code(code, now_ms())
    if used is None:
        raise TentError("Invalid token code", 403)
    settings = settings_of(request)
    creds = await posts_of(request).get(settings.entity, used[1])
    if creds is None:
        raise TentError("Invalid token code", 403)
    return json_response(request, grants.token_response(creds))
