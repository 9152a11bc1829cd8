"""Apps as a client makes them: registration (the app post and the credentials behind its
bewit Link) and authorization in test mode, ending with a client signing with the token."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from tent.core.passphrase import hash_passphrase
from tent.handlers.common import STATE
from tent.handlers.owner import PASSPHRASE_KEY
from tests.conftest import POST_MT, STATUS, Client, Tent

APP = "https://tent.io/types/app/v0#"
APP_AUTH = "https://tent.io/types/app-auth/v0#"
ESSAY = "https://tent.io/types/essay/v0#"
CREDS_REL = "https://tent.io/rels/credentials"
TOKEN_TYPE = "https://tent.io/oauth/hawk-token"


def app_body(
    read: list[str] | None = None,
    write: list[str] | None = None,
    scopes: list[str] | None = None,
    **content: Any,
) -> dict:
    return {
        "type": APP,
        "permissions": {"public": False},
        "content": {
            "name": "Example App",
            "url": "https://app.example.com",
            "redirect_uri": "https://app.example.com/oauth?x=1",
            "types": {"read": read or [], "write": write or []},
            "scopes": scopes or [],
            **content,
        },
    }


async def register(tent: Tent, body: dict | None = None) -> tuple[dict, dict]:
    """Register anonymously; returns (app post, app credentials post fetched via the Link)."""
    resp = await tent.anon.post(
        "/posts",
        json=body or app_body([STATUS], [STATUS]),
        headers={"Content-Type": f'{POST_MT}; type="{APP}"'},
    )
    assert resp.status == 200, await resp.text()
    app = (await resp.json())["post"]
    m = re.fullmatch(r'<([^>]+)>; rel="([^"]+)"', resp.headers["Link"])
    assert m and m.group(2) == CREDS_REL
    creds_resp = await tent.anon.get(m.group(1).removeprefix(tent.base))
    assert creds_resp.status == 200, await creds_resp.text()
    return app, (await creds_resp.json())["post"]


async def authorize(tent: Tent, read: list[str], write: list[str], scopes: list[str] | None = None) -> Client:
    """Register and authorize an app in test mode; returns a client signing with its token."""
    app, creds = await register(tent, app_body(read, write, scopes))
    resp = await tent.anon.get(f"/oauth/authorize?client_id={app['id']}&state=s1")
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    app_client = tent.as_app(creds, app["id"])
    token = await app_client.post("/oauth/token", json={"code": code, "token_type": TOKEN_TYPE})
    assert token.status == 200, await token.text()
    return tent.as_app(await token.json(), app["id"])


async def ask(tent: Tent, **body) -> tuple[dict, Client]:
    """An app asks for authorization without a browser (an authorization request)."""
    app, creds = await register(tent, app_body([STATUS], [STATUS], ["permissions"]))
    client = tent.as_app(creds, app["id"])
    resp = await client.post(
        "/oauth/requests", json={"code": 424242, "msg": "status client on laptop", **body}
    )
    assert resp.status == 200, await resp.text()
    return await resp.json(), client


async def owner_session(tent: Tent) -> aiohttp.ClientSession:
    """A browser-like session signed in to the owner pages with the passphrase."""
    await tent.server.app[STATE].set(PASSPHRASE_KEY, hash_passphrase("correct horse battery"))
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    resp = await session.post(
        tent.base + "/owner/login",
        data={"passphrase": "correct horse battery", "next": "/owner"},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    return session
