"""The owner's approval pages in a real browser: headless Chromium (Debian's package)
driven by Playwright's async API, on the same event loop as the server under test.

Chromium is found at /usr/bin/chromium; when it (or Playwright) is missing these tests
fail under CI and are skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tent.handlers.owner import COOKIE
from tests.browser_helpers import (
    READ_TYPES,
    SCOPES,
    TIMEOUT_MS,
    TOKEN_TYPE,
    VIEWPORT,
    WRITE_TYPES,
    MakeServer,
    browser,
    new_page,
    owner_server,
    register_app,
    sign_in,
    texts,
)
from tests.conftest import POST_MT, Client, Tent

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

__all__ = ["browser"]  # the fixture, used by name

STATUS = "https://tent.io/types/status/v0#"
ESSAY = "https://tent.io/types/essay/v0#"
# Characters that must survive the round trip through sign-in and the redirect, encoded.
STATE = "st&te=1/2 ü#x"
APPROVE_GREEN = (0x1A, 0x7F, 0x37)  # button.approve's background in pages._STYLE


@dataclass
class Recorder:
    """A tiny third-party site at another loopback port: the app's redirect_uri."""

    server: TestServer
    queries: list[dict[str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def redirect_uri(self) -> str:
        return str(self.server.make_url("/callback"))

    async def wait(self) -> dict[str, str]:
        await asyncio.wait_for(self.arrived.wait(), TIMEOUT_MS / 1000)
        assert len(self.queries) == 1, self.queries
        return self.queries[0]


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec: Recorder

    async def callback(request: web.Request) -> web.Response:
        rec.queries.append(dict(request.query))
        rec.arrived.set()
        html = "<!DOCTYPE html><title>App</title><h1 id='done'>Back at the app</h1>"
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/callback", callback)
    server = TestServer(app, host="127.0.0.1")
    rec = Recorder(server)
    await server.start_server()
    yield rec
    await server.close()


def authorize_url(tent: Tent, app: dict[str, Any], state: str = STATE) -> str:
    return f"{tent.base}/oauth/authorize?" + urlencode({"client_id": app["id"], "state": state})


async def assert_describes_app(scope: Any, app: dict[str, Any]) -> None:
    """The app's description block (on the consent page or in a request item)."""
    assert (await scope.locator("#app-name").inner_text()).strip() == app["name"]
    assert (await scope.locator("#app-url").inner_text()).strip() == app["url"]
    assert await scope.locator("#app-url").get_attribute("href") == app["url"]
    assert await texts(scope, "#read-types li code") == READ_TYPES
    assert await texts(scope, "#write-types li code") == WRITE_TYPES
    assert await texts(scope, "#scopes li code") == SCOPES
    # ... each with plain words beside the raw URI
    assert await texts(scope, "#read-types li .words") == ["photos"]
    assert await texts(scope, "#write-types li .words") == ["statuses"]
    assert await texts(scope, "#scopes li .words") == ["choose who may see the posts it writes"]


async def assert_token_works(tent: Tent, token: dict[str, Any], app_id: str) -> None:
    """Credentials of the grant: they write what the app asked to write, and nothing else."""
    assert token["token_type"] == TOKEN_TYPE
    assert token["access_token"] and token["hawk_key"] and token["hawk_algorithm"] == "sha256"
    client = tent.as_app(token, app_id)
    post = await tent.create(STATUS, {"text": "written by the authorized app"}, client=client)
    assert post["type"] == STATUS
    resp = await client.post(
        "/posts",
        json={"type": ESSAY, "content": {"body": "not granted"}},
        headers={"Content-Type": f'{POST_MT}; type="{ESSAY}"'},
    )
    assert resp.status == 403, await resp.text()


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG: (width, height, rows of pixel bytes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
    assert header is not None, "PNG without IHDR"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        else:
            assert kind == 0, f"unknown PNG filter {kind}"
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(px for i in range(0, stride, bpp) for px in r[i : i + 3]) for r in rows]


def assert_really_rendered(png: bytes) -> None:
    """The screenshot has the viewport's size, is no flat colour, shows anti-aliased text
    (many distinct colours), and the stylesheet's green Approve button."""
    width, height, rows = png_pixels(png)
    assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"])
    colours: set[bytes] = set()
    green = 0
    target = bytes(APPROVE_GREEN)
    for row in rows:
        for i in range(0, len(row), 3):
            px = row[i : i + 3]
            colours.add(px)
            green += px == target
    assert len(colours) >= 20, f"only {len(colours)} distinct colours: nothing rendered?"
    assert green >= 500, f"only {green} pixels of the Approve button's green"


async def approve_flow_until_consent(page: Page, tent: Tent, app: dict[str, Any]) -> None:
    """Open oauth_auth signed out, sign in, and land on the consent page for `app`."""
    response = await page.goto(authorize_url(tent, app))
    assert response is not None and response.status == 200
    assert await page.title() == "Sign in"
    assert await sign_in(page) == 200
    assert await page.title() == "Authorize app"
    assert urlsplit(page.url).path == "/oauth/authorize"


async def test_owner_approves_an_app_in_a_real_browser_and_is_redirected_with_a_code(
    make_server: MakeServer, browser: BrowserContext, recorder: Recorder
) -> None:
    tent = await owner_server(make_server)
    app = await register_app(tent, recorder.redirect_uri)
    page = await new_page(browser)

    await approve_flow_until_consent(page, tent, app)
    await assert_describes_app(page, app)
    assert_really_rendered(await page.screenshot())

    await page.click("button[name=decision][value=approve]")
    query = await recorder.wait()
    await page.wait_for_url(lambda url: url.startswith(recorder.redirect_uri + "?"))
    assert (await page.locator("#done").inner_text()) == "Back at the app"
    assert query["state"] == STATE
    assert query["code"] and "error" not in query

    app_client: Client = tent.as_app(app["credentials"], app["id"])
    exchange = {"code": query["code"], "token_type": TOKEN_TYPE}
    resp = await app_client.post("/oauth/token", json=exchange)
    assert resp.status == 200, await resp.text()
    await assert_token_works(tent, await resp.json(), app["id"])

    again = await app_client.post("/oauth/token", json=exchange)
    assert again.status == 403, "a code is single-use"


async def test_denying_in_the_browser_redirects_with_access_denied(
    make_server: MakeServer, browser: BrowserContext, recorder: Recorder
) -> None:
    tent = await owner_server(make_server)
    app = await register_app(tent, recorder.redirect_uri)
    page = await new_page(browser)

    await approve_flow_until_consent(page, tent, app)
    await page.click("button[name=decision][value=deny]")
    query = await recorder.wait()
    assert query == {"error": "access_denied", "state": STATE}


async def test_wrong_passphrase_shows_an_error_and_no_session_cookie(
    make_server: MakeServer, browser: BrowserContext
) -> None:
    tent = await owner_server(make_server)
    page = await new_page(browser)
    await page.goto(tent.base + "/owner")

    assert await sign_in(page, "not the passphrase at all") == 403
    assert (await page.locator(".error").inner_text()).strip() == "Wrong passphrase."
    assert await page.locator("input[name=passphrase]").is_visible()
    assert [c for c in await browser.cookies() if c["name"] == COOKIE] == []
    assert await page.locator("#pending").count() == 0


async def test_signing_in_sets_an_httponly_samesite_lax_session_cookie(
    make_server: MakeServer, browser: BrowserContext
) -> None:
    tent = await owner_server(make_server)
    page = await new_page(browser)
    await page.goto(tent.base + "/owner")
    before = time.time()

    assert await sign_in(page) == 200
    assert urlsplit(page.url).path == "/owner"
    assert (await page.locator("#pending").inner_text()).strip() == "No pending requests."
    cookies = [c for c in await browser.cookies() if c["name"] == COOKIE]
    assert len(cookies) == 1, cookies
    cookie = cookies[0]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # http:// entity; https entities get Secure
    assert cookie["path"] == "/"
    assert cookie["domain"] == "127.0.0.1"
    assert before + 7 * 3600 < cookie["expires"] < before + 9 * 3600
    assert COOKIE not in await page.evaluate("document.cookie")


async def test_owner_page_approves_a_pending_authorization_request(
    make_server: MakeServer, browser: BrowserContext
) -> None:
    tent = await owner_server(make_server)
    app = await register_app(tent, "https://app.example/unused-callback", name="Terminal Client")
    app_client = tent.as_app(app["credentials"], app["id"])
    resp = await app_client.post("/oauth/requests", json={"code": "4821", "msg": "from my laptop"})
    assert resp.status == 200, await resp.text()
    stamp = (await resp.json())["stamp"]
    assert (await resp.json())["result"] == "sent"

    page = await new_page(browser)
    await page.goto(tent.base + "/owner")
    assert await sign_in(page) == 200
    item = page.locator(f"li.request[data-stamp='{stamp}']")
    await item.wait_for()
    assert await page.locator("li.request").count() == 1
    await assert_describes_app(item, app)
    assert (await item.locator("strong.code").inner_text()).strip() == "4821"
    assert "from my laptop" in await item.inner_text()

    seen = await app_client.get(f"/oauth/requests/{stamp}")
    assert (await seen.json())["result"] == "got", "showing the request to the owner marks it seen"

    async with page.expect_navigation() as nav:
        await item.locator("button[name=decision][value=approve]").click()
    response = await nav.value
    assert response is not None and response.status == 200
    assert urlsplit(page.url).path == "/owner"
    assert (await page.locator("#pending").inner_text()).strip() == "No pending requests."
    assert (await page.locator("#flash").inner_text()).strip() == "Approved Terminal Client."
    await page.goto(tent.base + "/owner/apps")
    assert await page.locator("#flash").count() == 0, "a flash message is shown once"
    decisions = await texts(page, "#decisions tbody tr")
    assert len(decisions) == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC\tTerminal Client\tapproved", decisions[0])

    polled = await app_client.get(f"/oauth/requests/{stamp}")
    assert polled.status == 200, await polled.text()
    result = await polled.json()
    assert result["result"] == "yes"
    await assert_token_works(tent, result["credentials"], app["id"])


def test_consent_page_lets_the_form_lead_to_the_apps_redirect_target() -> None:
    from tent.handlers.pages import csp_source

    assert csp_source("https://app.example.com:8443/cb?x=1") == "https://app.example.com:8443"
    assert csp_source("tentapp://callback") == "tentapp:"
    assert csp_source("null://whatever") == "null:"
