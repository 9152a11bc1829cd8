"""Helpers for tests in headless Chromium (Debian's package) driven by Playwright's async
API, on the same event loop as the servers under test: the browser fixture, signing in, and
the layout check every page gets at desktop and phone widths (with optional screenshots)."""

from __future__ import annotations

import asyncio
import os
import re
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tent.core.passphrase import hash_passphrase
from tent.handlers.common import STATE
from tent.handlers.owner import PASSPHRASE_KEY

try:
    from playwright.async_api import BrowserContext, Page, async_playwright
except ImportError:  # reported by the `browser` fixture
    async_playwright = None  # type: ignore[assignment]

from tests.conftest import POST_MT, Tent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 800, "height": 600}
TIMEOUT_MS = 10_000

PASSPHRASE = "correct horse battery staple"
APP_TYPE = "https://tent.io/types/app/v0#"
CREDENTIALS_REL = "https://tent.io/rels/credentials"
TOKEN_TYPE = "https://tent.io/oauth/hawk-token"
READ_TYPES = ["https://tent.io/types/photo/v0"]
WRITE_TYPES = ["https://tent.io/types/status/v0"]
SCOPES = ["permissions"]
# Where the layout check saves its screenshots (the README's come from here), if set.
SCREENSHOT_DIR = os.environ.get("TENT_SCREENSHOT_DIR")
LAYOUT_WIDTHS = (1280, 390)

MakeServer = Callable[..., Awaitable[Tent]]


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(f"{reason}; install Debian's chromium package (apt-get install chromium) to run them")


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium profile; closed (with its process) after the test."""
    if async_playwright is None:
        _unavailable("the Python playwright package is not installed")
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} is missing")
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            device_scale_factor=1,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            await context.close()


async def new_page(context: BrowserContext) -> Page:
    return context.pages[0] if context.pages else await context.new_page()


async def owner_server(make_server: MakeServer, **settings: Any) -> Tent:
    """A server that asks its owner before authorizing apps, with a passphrase set."""
    tent = await make_server(app_approval="owner", **settings)
    hashed = await asyncio.get_running_loop().run_in_executor(None, hash_passphrase, PASSPHRASE)
    await tent.server.app[STATE].set(PASSPHRASE_KEY, hashed)
    return tent


async def sign_in(page: Page, passphrase: str = PASSPHRASE) -> int:
    """On the sign-in page: type the passphrase and submit; returns the final status."""
    await page.locator("h1", has_text="Sign in to").wait_for()
    await page.fill("input[name=passphrase]", passphrase)
    async with page.expect_navigation() as nav:
        await page.click("form button[type=submit]")
    response = await nav.value
    assert response is not None
    return response.status


async def texts(page: Page, selector: str) -> list[str]:
    return [t.strip() for t in await page.locator(selector).all_inner_texts()]


async def sign_in_at(page: Page, url: str) -> None:
    """Open an owner page signed out, sign in, and land on it."""
    await page.goto(url)
    assert await sign_in(page) == 200


async def assert_fits(page: Page, name: str) -> None:
    """At 1280 and 390 px wide nothing overflows (the document is no wider than the viewport);
    a full-page screenshot at each width is saved as NAME-WIDTH.png when asked to."""
    original = page.viewport_size
    try:
        for width in LAYOUT_WIDTHS:
            await page.set_viewport_size({"width": width, "height": 800})
            scroll = await page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{name} is {scroll} px wide in a {width} px viewport"
            wide = await page.evaluate(
                "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
                f" > {width} + 1).map(e => e.tagName + '.' + e.className).slice(0, 5)"
            )
            assert wide == [], f"{name} at {width} px: elements past the right edge: {wide}"
            png = await page.screenshot(full_page=True)
            if SCREENSHOT_DIR:
                Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
                (Path(SCREENSHOT_DIR) / f"{name}-{width}.png").write_bytes(png)
    finally:
        if original:
            await page.set_viewport_size(original)


async def register_app(tent: Tent, redirect_uri: str, name: str = "Browser Test App") -> dict[str, Any]:
    """Register an app as an app does (anonymous POST) and fetch its credentials through
    the bewit-signed Link. Returns the app post id and its credentials post."""
    body = {
        "type": APP_TYPE,
        "permissions": {"public": False},
        "content": {
            "name": name,
            "url": "https://app.example/about",
            "redirect_uri": redirect_uri,
            "types": {"read": READ_TYPES, "write": WRITE_TYPES},
            "scopes": SCOPES,
        },
    }
    headers = {"Content-Type": f'{POST_MT}; type="{APP_TYPE}"'}
    resp = await tent.anon.post("/posts", json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    app_post = (await resp.json())["post"]
    # The raw header: a parsed yarl URL would re-encode the path and break the bewit's MAC.
    link = re.fullmatch(r'<([^>]+)>; rel="([^"]+)"', resp.headers.get("Link", ""))
    assert link and link.group(2) == CREDENTIALS_REL, resp.headers.get("Link")
    assert link.group(1).startswith(tent.base + "/"), link.group(1)
    creds_resp = await tent.anon.get(link.group(1).removeprefix(tent.base))
    assert creds_resp.status == 200, await creds_resp.text()
    creds = (await creds_resp.json())["post"]
    assert creds["content"]["hawk_key"]
    return {"id": app_post["id"], "name": name, "url": body["content"]["url"], "credentials": creds}


def make_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small one-colour PNG, to upload as a photo or an avatar."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
