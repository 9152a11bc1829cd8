"""Server-rendered HTML: Jinja2 templates under `tent/templates/` (autoescaped), one
stylesheet, and the security headers every page carries.

Pages need no script: a strict Content-Security-Policy forbids them, except a page that asks
for one small inline script, which gets a fresh nonce (the compose form's character count).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from tent.core.describe import describe_scope, describe_types, type_label
from tent.handlers.common import settings_of

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "tent.css"
STYLE_PATH = "/style.css"
FLASH_COOKIE = "tent_flash"

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def csp(*, form_target: str | None = None, nonce: str | None = None) -> str:
    """Nothing but our own stylesheet and images; forms post to us (and, on the consent page,
    lead on to the app's redirect target); a script only with this response's nonce."""
    parts = [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'" + (f" {form_target}" if form_target else ""),
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
    if nonce:
        parts.append(f"script-src 'nonce-{nonce}'")
    return "; ".join(parts)


def when(ms: Any) -> str:
    """A time the owner can read, with its timezone."""
    if not isinstance(ms, int):
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["type_label"] = type_label
    env.filters["describe_types"] = describe_types
    env.filters["scope_words"] = describe_scope
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    env.filters["href"] = safe_href


def safe_href(value: Any) -> str:
    """Only web links: an app or a peer could name a `javascript:` URL as its address."""
    text = str(value or "")
    return text if text.lower().startswith(("http://", "https://")) else ""


def csp_source(uri: str) -> str:
    """The CSP source expression for a redirect URI: its origin, or `scheme:` for app schemes."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:" if re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", parts.scheme or "") else ""


def _flash_mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:32]


def set_flash(response: web.StreamResponse, request: web.Request, secret: str, message: str) -> None:
    """A one-time message for the next page, bound to the session (its CSRF token signs it,
    so another site cannot plant words on the owner's pages)."""
    value = quote(message, safe="") + "." + _flash_mac(secret, message)
    path = settings_of(request).path_prefix or "/"
    response.set_cookie(FLASH_COOKIE, value, path=path, httponly=True, samesite="Strict", max_age=120)


def take_flash(request: web.Request, secret: str | None) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or secret is None or "." not in raw:
        return None
    encoded, _, mac = raw.rpartition(".")
    message = unquote(encoded)
    return message if hmac.compare_digest(mac, _flash_mac(secret, message)) else None


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    form_target: str | None = None,
    script: bool = False,
    public: bool = False,
) -> web.Response:
    settings = settings_of(request)
    nonce = secrets.token_urlsafe(18) if script else None
    full = {
        "prefix": settings.path_prefix,
        "entity": settings.entity,
        "style_url": settings.path_prefix + STYLE_PATH,
        "nonce": nonce,
        "csrf": None,
        "flash": None,
        "nav": None,
        **context,
    }
    response = aiohttp_jinja2.render_template(template, request, full, status=status)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Content-Security-Policy"] = csp(form_target=form_target, nonce=nonce)
    if public:
        response.headers["Cache-Control"] = "public, max-age=0, must-revalidate"
        response.headers["Vary"] = "Accept"
    if FLASH_COOKIE in request.cookies:
        response.del_cookie(FLASH_COOKIE, path=settings.path_prefix or "/")
    return response


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        body=_STYLE_BYTES,
        content_type="text/css",
        charset="utf-8",
        headers={
            "Cache-Control": "public, max-age=3600",
            "ETag": _STYLE_ETAG,
            "X-Content-Type-Options": "nosniff",
        },
    )


_STYLE_BYTES = STYLESHEET.read_bytes()
_STYLE_ETAG = '"' + hashlib.sha256(_STYLE_BYTES).hexdigest()[:32] + '"'


def login_page(
    request: web.Request,
    next_url: str,
    *,
    action: str,
    error: str | None = None,
    status: int = 200,
    configured: bool = True,
) -> web.Response:
    return render(
        request,
        "login.html",
        {"next_url": next_url, "action": action, "error": error, "configured": configured},
        status=status,
    )


def consent_page(
    request: web.Request,
    app: dict[str, Any],
    types: dict[str, list[str]],
    scopes: list[str],
    *,
    action: str,
    hidden: dict[str, str],
    redirect_uri: str,
) -> web.Response:
    return render(
        request,
        "consent.html",
        {
            "app": app.get("content") or {},
            "types": types,
            "scopes": scopes,
            "action": action,
            "hidden": hidden,
        },
        form_target=csp_source(redirect_uri) or None,
    )
