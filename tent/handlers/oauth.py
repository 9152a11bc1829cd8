"""OAuth for apps (docs/protocol.md §6): app registration side effects, oauth_auth with the
owner's approval (or automatic in test mode), and the token exchange."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from tent.auth.hawk import bewit_url
from tent.core.errors import TentError
from tent.core.input_safety import check_json
from tent.core.media import REL_CREDENTIALS
from tent.handlers import owner, pages
from tent.handlers.common import (
    SERVER_CREDENTIALS,
    json_response,
    principal_of,
    services_of,
    settings_of,
    signed_post_url,
)
from tent.http_input import read_body
from tent.services.grants import requested_grant

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
    app = await services_of(request).grants.find_app(app_id)
    if app is None:
        raise TentError("invalid client_id")
    return app


def _redirect_uri(app: dict[str, Any]) -> str:
    uri = str((app.get("content") or {}).get("redirect_uri", ""))
    if not uri or uri.split(":", 1)[0].lower() in ("javascript", "data", "vbscript"):
        raise TentError("App has no usable redirect_uri")
    return uri


async def authorize(request: web.Request) -> web.StreamResponse:
    """GET oauth_auth: approve at once in test mode, else show the owner what the app wants."""
    settings = settings_of(request)
    app = await find_app(request, request.query.get("client_id"))
    redirect_uri = _redirect_uri(app)
    state = request.query.get("state")
    if settings.app_approval == "auto":
        code = await services_of(request).grants.grant_with_code(app)
        params = {"code": code, **({"state": state} if state is not None else {})}
        raise web.HTTPFound(redirect_with(redirect_uri, params))
    csrf = await owner.session_csrf(request)
    if csrf is None:
        return await owner.login_form(request, request.path_qs)
    types, scopes = requested_grant(app)
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
        code = await services_of(request).grants.grant_with_code(app)
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
    token_json = await services_of(request).grants.exchange_code(code, principal_of(request))
    return json_response(request, token_json)
