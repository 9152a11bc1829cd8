"""The owner's browser session: sign-in with the passphrase, sign-out, and the page of
pending authorization requests.

The cookie is HttpOnly and SameSite=Lax (the OAuth redirect from an app's site is a
top-level GET and must carry it); every form POST also carries a per-session CSRF token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from html import escape

from aiohttp import web

from tent.core.errors import TentError
from tent.core.input_safety import check_text
from tent.core.passphrase import verify_passphrase
from tent.core.posts import now_ms
from tent.handlers import pages
from tent.handlers.client_address import client_address
from tent.handlers.common import AUTH_STORE, POSTS, settings_of
from tent.http_input import reading_body
from tent.store import db
from tent.store.auth import AuthRequest

log = logging.getLogger(__name__)

COOKIE = "tent_owner"
SESSION_MS = 8 * 3600 * 1000
PASSPHRASE_KEY = "owner_passphrase"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def path(request: web.Request, suffix: str) -> str:
    return settings_of(request).path_prefix + suffix


async def session_csrf(request: web.Request) -> str | None:
    """The CSRF token of the owner's session, or None when not signed in."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return await request.app[AUTH_STORE].session_csrf(_hash(token), now_ms())


async def check_form(request: web.Request) -> dict[str, str]:
    """A POSTed owner form: signed-in session and matching CSRF token, or 403."""
    csrf = await session_csrf(request)
    form = await read_form(request)
    sent = form.get("csrf")
    if csrf is None or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), csrf.encode()):
        raise TentError("Forbidden: sign in again and resubmit the form", 403)
    return form


async def read_form(request: web.Request) -> dict[str, str]:
    """A form POST's text fields (files are ignored), each one storable text."""
    with reading_body():
        form = await request.post()
    return {check_text("form field name", k): check_text(f"form field {k[:64]!r}", v)
            for k, v in form.items() if isinstance(v, str)}


def _safe_next(value: str | None, fallback: str) -> str:
    """Only local paths: never redirect the owner to another site after sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return fallback
    return value


async def passphrase_hash(request: web.Request) -> str | None:
    async with request.app[POSTS].pool.acquire() as conn:
        return await db.get_state(conn, PASSPHRASE_KEY)


async def login_form(
    request: web.Request, next_url: str, *, error: str | None = None, status: int = 200
) -> web.Response:
    settings = settings_of(request)
    return pages.login_page(
        next_url,
        settings.entity,
        action=path(request, "/owner/login"),
        error=error,
        status=status,
        configured=await passphrase_hash(request) is not None,
    )


async def login(request: web.Request) -> web.Response:
    settings = settings_of(request)
    form = await read_form(request)
    next_url = _safe_next(
        form.get("next"),
        path(request, "/owner"),
    )
    store, address, now = request.app[AUTH_STORE], client_address(request), now_ms()
    locked_until = await store.signin_locked_until(address, now)
    if locked_until > now:
        wait = -(-(locked_until - now) // 1000)
        log.warning("owner sign-in refused from %s: locked for %d more seconds", address, wait)
        response = await login_form(
            request, next_url, error=f"Too many failed attempts; try again in {wait} seconds.", status=429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    stored = await passphrase_hash(request)
    given = form.get("passphrase")
    ok = False
    if stored is not None and isinstance(given, str):
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(None, verify_passphrase, given, stored)
    if not ok:
        failures, locked_until = await store.signin_failed(address, now)
        # One line per failure, fixed wording, the address last: a fail2ban filter matches
        # `failed owner sign-in from <HOST>` (README "Reliability").
        log.warning("failed owner sign-in (%d in a row) from %s", failures, address)
        return await login_form(request, next_url, error="Wrong passphrase.", status=403)
    await store.signin_succeeded(address)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await request.app[AUTH_STORE].add_session(_hash(token), csrf, now_ms() + SESSION_MS)
    response = web.HTTPSeeOther(next_url)
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_MS // 1000,
        path=settings.path_prefix or "/",
        httponly=True,
        samesite="Lax",
        secure=settings.entity.startswith("https:"),
    )
    raise response


async def logout(request: web.Request) -> web.Response:
    await check_form(request)
    token = request.cookies.get(COOKIE, "")
    await request.app[AUTH_STORE].end_session(_hash(token), now_ms())
    response = web.HTTPSeeOther(path(request, "/owner"))
    response.del_cookie(COOKIE, path=settings_of(request).path_prefix or "/")
    raise response


def _request_item(entry: AuthRequest, csrf: str, action: str) -> str:
    req = entry.request
    app = req.get("app") or {}
    types = req.get("types") or {}
    details = pages.describe_app({"content": app}, types, req.get("scopes") or [])
    extra = ""
    if req.get("code") is not None:
        extra += f'<p>Code shown by the app: <strong class="code">{escape(str(req["code"]))}</strong></p>'
    if req.get("msg"):
        extra += f"<p>Message: {escape(str(req['msg']))}</p>"
    return (
        f'<li class="request" data-stamp="{entry.stamp}">{_turf_line(entry)}{details}{extra}'
        f'<form method="post" action="{escape(action)}/{entry.stamp}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button class="approve" type="submit" name="decision" value="approve">Approve</button>'
        '<button class="deny" type="submit" name="decision" value="deny">Deny</button>'
        "</form></li>"
    )


def _turf_line(entry: AuthRequest) -> str:
    """The site the request claims to come from, and whether its signed manifest proved it."""
    turf, entity = entry.request.get("turf"), entry.request.get("entity")
    if not turf:
        return ""
    who = f' <span class="muted">(for {escape(str(entity))})</span>'
    if entry.turf_verified:
        return f'<p class="turf verified">{escape(str(turf))} — verified{who}</p>'
    return (
        f'<p class="turf unverified">claims {escape(str(turf))} — not verified: '
        f"{escape(entry.turf_reason or 'unknown reason')}{who}</p>"
    )


async def dashboard(request: web.Request) -> web.Response:
    """Pending authorization requests (seeing them moves them from `sent` to `got`)."""
    csrf = await session_csrf(request)
    if csrf is None:
        return await login_form(request, path(request, "/owner"))
    store = request.app[AUTH_STORE]
    now = now_ms()
    entries = await store.list_requests(now, before=None, since=None, limit=100)
    pending = [e for e in entries if e.result in ("sent", "got")]
    await store.mark_got([e.stamp for e in pending if e.result == "sent"], now)
    decided = [e for e in entries if e.result not in ("sent", "got")][:20]
    action = path(request, "/owner/requests")
    body = (
        f"<h1>{escape(settings_of(request).entity)}</h1><h2>Apps asking for access</h2>"
        + (
            '<ul id="pending">' + "".join(_request_item(e, csrf, action) for e in pending) + "</ul>"
            if pending
            else '<p class="muted" id="pending">No pending requests.</p>'
        )
        + "<h2>Recent decisions</h2><ul>"
        + "".join(
            f"<li>{escape(str((e.request.get('app') or {}).get('name', '')))}: {escape(e.result)}</li>"
            for e in decided
        )
        + "</ul>"
        f'<form method="post" action="{escape(path(request, "/owner/logout"))}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}"><button type="submit">Sign out</button>'
        "</form>"
    )
    return pages.page("Owner", body)
