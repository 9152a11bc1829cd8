"""The few HTML pages the owner sees: sign-in, app approval, pending authorization requests.

Plain server-rendered HTML with every value escaped; no scripts, so a strict
Content-Security-Policy can forbid them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
    " frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem} .app{border:1px solid #ccc;border-radius:8px;padding:1rem;margin:1rem 0}
.types li{font-family:monospace} .muted{color:#666} form.inline{display:inline}
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:6px;border:1px solid #888}
button.approve{background:#1a7f37;color:#fff;border-color:#1a7f37} button.deny{background:#fff}
input[type=password]{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}
.error{color:#b00} .turf.verified{color:#1a7f37} .turf.unverified{color:#b00}
"""


def page(title: str, body: str, status: int = 200, *, form_target: str | None = None) -> web.Response:
    """`form_target`: one more place forms may lead to (the redirect after an OAuth decision
    counts as the form's destination for Content-Security-Policy `form-action`)."""
    html = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )
    headers = dict(SECURITY_HEADERS)
    if form_target:
        headers["Content-Security-Policy"] = headers["Content-Security-Policy"].replace(
            "form-action 'self';", f"form-action 'self' {form_target};"
        )
    return web.Response(text=html, status=status, content_type="text/html", headers=headers)


def csp_source(uri: str) -> str:
    """The CSP source expression for a redirect URI: its origin, or `scheme:` for app schemes."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:" if re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", parts.scheme or "") else ""


def _list(items: Iterable[str], empty: str) -> str:
    items = list(items)
    if not items:
        return f'<p class="muted">{escape(empty)}</p>'
    return '<ul class="types">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def describe_app(app: dict[str, Any], types: dict[str, list[str]], scopes: list[str]) -> str:
    content = app.get("content") or {}
    return (
        f'<div class="app"><h2 id="app-name">{escape(str(content.get("name", "")))}</h2>'
        f'<p><a id="app-url" href="{escape(str(content.get("url", "")))}">'
        f"{escape(str(content.get('url', '')))}</a></p>"
        + (f"<p>{escape(str(content['description']))}</p>" if content.get("description") else "")
        + '<h3>It wants to read</h3><div id="read-types">'
        + _list(types.get("read", []), "nothing")
        + '</div><h3>It wants to read and write</h3><div id="write-types">'
        + _list(types.get("write", []), "nothing")
        + "</div>"
        + '<h3>Extra rights</h3><div id="scopes">'
        + _list(scopes, "none")
        + "</div></div>"
    )


def login_page(
    next_url: str,
    entity: str,
    *,
    action: str,
    error: str | None = None,
    status: int = 200,
    configured: bool = True,
) -> web.Response:
    if not configured:
        return page(
            "Sign in",
            f'<h1>{escape(entity)}</h1><p class="error">No owner passphrase is set. '
            "Set one on the server with <code>tent passphrase</code>, then reload this page.</p>",
            status,
        )
    message = f'<p class="error">{escape(error)}</p>' if error else ""
    return page(
        "Sign in",
        (
            f"<h1>Sign in to {escape(entity)}</h1>{message}"
            f'<form method="post" action="{escape(action)}">'
            f'<input type="hidden" name="next" value="{escape(next_url)}">'
            '<input type="text" name="username" value="owner" autocomplete="username" hidden>'
            '<p><label>Passphrase <input type="password" name="passphrase" autofocus '
            'autocomplete="current-password" required></label></p>'
            '<p><button class="approve" type="submit">Sign in</button></p></form>'
        ),
        status,
    )


def consent_page(
    app: dict[str, Any],
    types: dict[str, list[str]],
    scopes: list[str],
    *,
    action: str,
    hidden: dict[str, str],
    entity: str,
    redirect_uri: str,
) -> web.Response:
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items()
    )
    return page(
        "Authorize app",
        (
            f"<h1>An app asks to use {escape(entity)}</h1>"
            + describe_app(app, types, scopes)
            + f'<form method="post" action="{escape(action)}">{fields}'
            '<button class="approve" type="submit" name="decision" value="approve">Approve</button>'
            '<button class="deny" type="submit" name="decision" value="deny">Deny</button></form>'
        ),
        form_target=csp_source(redirect_uri) or None,
    )
