"""Authorization requests for apps that cannot take a browser redirect (a command-line
client): the app asks, the owner approves or denies on the owner page, the app polls.

A request's `result` moves `sent` -> `got` (the owner has seen it) -> `yes` | `no`, or to
`expire` at its expiry time or `abort` when the app cancels; terminal results never change.
On `yes` the polling app receives the same credentials the OAuth token exchange gives.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from tent.core.beacon import check_turf
from tent.core.entities import check_entity
from tent.core.errors import NotFound, TentError, Unauthorized
from tent.core.input_safety import bounded_int, parse_json
from tent.core.posts import now_ms
from tent.core.principal import Principal
from tent.core.type_uris import APP_AUTH_TYPE
from tent.handlers import owner, pages
from tent.handlers.common import (
    AUTH_STORE,
    TURF_VERIFIER,
    int_param,
    json_response,
    posts_of,
    principal_of,
    services_of,
    settings_of,
)
from tent.http_input import read_body
from tent.services.grants import requested_grant
from tent.store.auth import AuthRequest

DEFAULT_LIFETIME_MS = 15 * 60 * 1000
MAX_LIFETIME_MS = 7 * 24 * 3600 * 1000


def manages_apps(principal: Principal) -> bool:
    """The owner, or an app allowed to write app-auth posts (it could authorize apps anyway)."""
    return principal.can_write_type(APP_AUTH_TYPE)


def _stamp(request: web.Request) -> int:
    try:
        return bounded_int("stamp", request.match_info["stamp"])
    except TentError:
        raise NotFound() from None


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await read_body(request)
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise TentError("Request body must be a JSON object")
    return body


def _entry_json(request: web.Request, entry: AuthRequest) -> dict[str, Any]:
    out = entry.as_json()
    out["approve_url"] = settings_of(request).entity + "/owner"
    return out


async def create(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal.kind != "app":
        raise Unauthorized(
            401 if principal.is_anonymous else 403, "Request must be signed using app credentials"
        )
    body = await _body(request)
    now = now_ms()
    expire = body.get("expire", now + DEFAULT_LIFETIME_MS)
    if not isinstance(expire, int) or isinstance(expire, bool):
        raise TentError("expire must be an integer (milliseconds since the epoch)")
    expire = min(expire, now + MAX_LIFETIME_MS)
    for name in ("msg", "user"):
        if body.get(name) is not None and (not isinstance(body[name], str) or len(body[name]) > 256):
            raise TentError(f"{name} must be a string of at most 256 characters")
    code = body.get("code")
    bad_code = isinstance(code, bool) or not isinstance(code, str | int) or len(str(code)) > 32
    if code is not None and bad_code:
        raise TentError("code must be a short string or integer")
    turf, entity = _turf_and_entity(body)
    settings = settings_of(request)
    app = await posts_of(request).get(settings.entity, principal.app_post_id or "")
    if app is None:
        raise Unauthorized(403)
    types, scopes = requested_grant(app)
    content = app.get("content") or {}
    record = {
        "app": {
            "id": app["id"],
            "name": content.get("name", ""),
            "url": content.get("url", ""),
            **({"description": content["description"]} if content.get("description") else {}),
        },
        "types": types,
        "scopes": scopes,
        "user": body.get("user"),
        "code": code,
        "msg": body.get("msg"),
        "expire": expire,
    }
    outcome = None
    if turf is not None and entity is not None:
        record["turf"], record["entity"] = turf, entity
        outcome = await request.app[TURF_VERIFIER].check(turf, entity)
    entry = await request.app[AUTH_STORE].add_request(
        app["id"],
        record,
        expire,
        time.time_ns(),
        turf_verified=outcome.verified if outcome else None,
        turf_reason=outcome.reason if outcome else None,
    )
    return json_response(request, _entry_json(request, entry))


def _turf_and_entity(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The site asking and the entity that speaks for it (seed 001): both or neither."""
    turf, entity = body.get("turf"), body.get("entity")
    if turf is None and entity is None:
        return None, None
    if turf is None or entity is None:
        raise TentError("turf and entity go together: the site asking and the entity that speaks for it")
    try:
        turf = check_turf(turf)
    except ValueError:
        raise TentError(
            "turf must be a bare domain such as example.com (no scheme, port, path or trailing dot)"
        ) from None
    if not isinstance(entity, str) or len(entity) > 2048:
        raise TentError("entity must be an entity URL")
    try:
        check_entity(entity)
    except ValueError as exc:
        raise TentError(f"entity: {exc}") from None
    return turf, entity


async def _visible_entry(request: web.Request) -> tuple[AuthRequest, Principal]:
    principal = principal_of(request)
    entry = await request.app[AUTH_STORE].get_request(_stamp(request), now_ms())
    if entry is None:
        raise NotFound()
    own = principal.kind == "app" and principal.app_post_id == entry.app_id
    if not (own or manages_apps(principal)):
        raise NotFound()
    return entry, principal


async def show(request: web.Request) -> web.Response:
    entry, principal = await _visible_entry(request)
    out = _entry_json(request, entry)
    if principal.kind == "app":
        credentials = await services_of(request).grants.request_credentials(entry)
        if credentials is not None:
            out["credentials"] = credentials
    return json_response(request, out)


async def cancel(request: web.Request) -> web.Response:
    entry, principal = await _visible_entry(request)
    if principal.kind != "app":
        raise Unauthorized(403, "Only the app that asked may cancel its request")
    settled = await services_of(request).grants.cancel_request(entry.stamp)
    return json_response(request, _entry_json(request, settled))


async def listing(request: web.Request) -> web.Response:
    """The owner's log, newest first, paged by stamp (`before`/`since`, exclusive)."""
    if not manages_apps(principal_of(request)):
        raise Unauthorized(401 if principal_of(request).is_anonymous else 403)
    before, since = int_param(request, "before"), int_param(request, "since")
    limit = min(int_param(request, "limit") or 25, 200)
    entries = await request.app[AUTH_STORE].list_requests(now_ms(), before=before, since=since, limit=limit)
    return json_response(request, {"logs": [e.as_json() for e in entries], "before": before, "since": since})


async def decide_api(request: web.Request) -> web.Response:
    """PUT by the owner's app: {"result": "yes"} or {"result": "no"}."""
    if not manages_apps(principal_of(request)):
        raise Unauthorized(401 if principal_of(request).is_anonymous else 403)
    body = await _body(request)
    if body.get("result") not in ("yes", "no"):
        raise TentError('result must be "yes" or "no"')
    entry = await services_of(request).grants.settle_request(_stamp(request), body["result"] == "yes")
    return json_response(request, _entry_json(request, entry))


async def decide_page(request: web.Request) -> web.Response:
    """POST from the owner page's Approve / Deny buttons."""
    form = await owner.check_form(request)
    approve = form.get("decision") == "approve"
    entry = await services_of(request).grants.settle_request(_stamp(request), approve)
    name = str((entry.request.get("app") or {}).get("name") or "the app")
    response = web.HTTPSeeOther(owner.path(request, "/owner"))
    pages.set_flash(response, request, form["csrf"], f"{'Approved' if approve else 'Denied'} {name}.")
    raise response
