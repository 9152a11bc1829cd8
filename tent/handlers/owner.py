"""The owner's browser session: sign-in with the passphrase and sign-out (the pages
themselves are in `owner_app`).

The cookie is HttpOnly and SameSite=Lax (the OAuth redirect from an app's site is a
top-level GET and must carry it); every form POST also carries a per-session CSRF token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets

from aiohttp import web

from tent.core.errors import TentError
from tent.core.input_safety import check_text
from tent.core.passphrase import verify_passphrase
from tent.core.posts import now_ms
from tent.handlers import pages
from tent.handlers.client_address import client_address
from tent.handlers.common import AUTH_STORE, STATE, settings_of
from tent.http_input import reading_body

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
    return {
        check_text("form field name", k): check_text(f"form field {k[:64]!r}", v)
        for k, v in form.items()
        if isinstance(v, str)
    }


def _safe_next(value: str | None, fallback: str) -> str:
    """Only local paths: never redirect the owner to another site after sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return fallback
    return value


async def passphrase_hash(request: web.Request) -> str | None:
    return await request.app[STATE].get(PASSPHRASE_KEY)


async def login_form(
    request: web.Request, next_url: str, *, error: str | None = None, status: int = 200
) -> web.Response:
    return pages.login_page(
        request,
        next_url,
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
