"""The owner's web app and the public pages in headless Chromium: what an owner does without
the API (compose, follow, revoke, retry, profile) and what a visitor sees. Every page is
checked at 1280 and 390 px for overflow; with TENT_SCREENSHOT_DIR set, the screenshots are
saved there (the README's come from `docs/screenshots`)."""

from __future__ import annotations

import re
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import aiohttp

from tent.handlers.common import FEDERATION_STORE
from tests.browser_helpers import (
    TOKEN_TYPE,
    MakeServer,
    assert_fits,
    browser,
    make_png,
    new_page,
    owner_server,
    register_app,
    sign_in_at,
    texts,
)
from tests.conftest import POST_MT, STATUS, Tent
from tests.fed_helpers import deliveries, eventually

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

__all__ = ["browser"]  # the fixture, used by name

META = "https://tent.io/types/meta/v0#"
STATUS_BASE = "https://tent.io/types/status/v0"
SUBSCRIPTION = "https://tent.io/types/subscription/v0"
GROUP = "https://tent.io/types/group/v0#"
REPOST_BASE = "https://tent.io/types/repost/v0"
HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def flash(page: Page) -> str:
    return (await page.locator("#flash").inner_text()).strip()


async def submit(page: Page, selector: str) -> int:
    async with page.expect_navigation() as nav:
        await page.click(selector)
    response = await nav.value
    assert response is not None
    return response.status


async def image_loaded(page: Page, selector: str) -> bool:
    return await page.locator(selector).first.evaluate("img => img.complete && img.naturalWidth > 0")


async def test_owner_composes_a_status_with_an_attachment_and_sees_it_in_the_timeline_and_the_api(
    make_server: MakeServer, browser: BrowserContext, tmp_path: Any
) -> None:
    tent = await owner_server(make_server)
    page = await new_page(browser)
    await sign_in_at(page, tent.base + "/owner")

    await page.fill("#text", "Hello from the browser, ü")
    assert (await page.locator("#count").inner_text()) == "25 / 256 characters", (
        "the counter runs (CSP nonce)"
    )
    photo = tmp_path / "sunset.png"
    photo.write_bytes(make_png(40, 30, (200, 80, 20)))
    await page.set_input_files("#attachments", str(photo))
    assert await submit(page, "#compose button[type=submit]") == 200
    assert await flash(page) == "Published your status with 1 attachment."

    item = page.locator("#timeline li.post").first
    assert (await item.locator(".text").inner_text()) == "Hello from the browser, ü"
    assert await image_loaded(page, "#timeline li.post img"), "the attachment shows as an image"
    await assert_fits(page, "owner-home")

    feed = await tent.feed("?types=" + quote(STATUS_BASE))
    post = feed["posts"][0]
    assert post["content"]["text"] == "Hello from the browser, ü"
    assert post.get("permissions", {"public": True}) == {"public": True}
    (attachment,) = post["attachments"]
    assert (attachment["name"], attachment["content_type"]) == ("sunset.png", "image/png")
    resp = await tent.client.get(f"/attachments/{quote(tent.entity, safe='')}/{attachment['digest']}")
    assert resp.status == 200 and await resp.read() == photo.read_bytes()

    # Too long for a status: the server refuses it and keeps the draft.
    await page.fill("#text", "x" * 257)
    assert "over" in (await page.locator("#count").get_attribute("class") or "")
    assert await submit(page, "#compose button[type=submit]") == 400
    assert "257 characters long" in await page.locator("#compose-error").inner_text()
    assert await page.locator("#text").input_value() == "x" * 257
    assert len((await tent.feed("?types=" + quote(STATUS_BASE)))["posts"]) == 1

    # A private reply to it, shared with one entity.
    await page.goto(tent.base + "/owner")
    async with page.expect_navigation():
        await page.locator("#timeline li.post").first.locator("a", has_text="Reply").click()
    await page.fill("#text", "Replying privately")
    await page.select_option("#audience", "private")
    await page.fill("#entities", "https://friend.example")
    assert await submit(page, "#compose button[type=submit]") == 200
    assert await flash(page) == "Published your reply."
    reply = (await tent.feed("?types=" + quote(STATUS_BASE)))["posts"][0]
    assert reply["type"] == STATUS + "reply"
    assert reply["permissions"] == {"public": False, "entities": ["https://friend.example"]}
    assert reply["refs"] == [{"post": post["id"], "type": STATUS}]
    assert "In reply to" in await page.locator("#timeline li.post").first.inner_text()


async def test_owner_follows_and_unfollows_a_second_server(
    make_server: MakeServer, browser: BrowserContext
) -> None:
    tent = await owner_server(make_server)
    bob = await make_server()
    page = await new_page(browser)
    await sign_in_at(page, tent.base + "/owner/people")

    dead = f"http://127.0.0.1:{free_port()}"
    await page.fill("#follow-entity", dead)
    assert await submit(page, "#follow button[type=submit]") == 400
    error = (await page.locator("#follow-error").inner_text()).strip()
    assert error == f"{dead} is not a Tent entity we can reach: connection refused by 127.0.0.1."

    await page.fill("#follow-entity", bob.entity)
    assert await submit(page, "#follow button[type=submit]") == 200
    assert await flash(page) == f"Following {bob.entity}."
    assert await texts(page, "#followings li a") == [bob.entity]
    assert "Their reposts, statuses, since" in await page.locator("#followings li").inner_text()
    subs = (await tent.feed("?types=" + quote(SUBSCRIPTION)))["posts"]
    assert sorted(s["content"]["type"] for s in subs if s["content"]["type"] != META) == [
        "https://tent.io/types/repost/v0",
        "https://tent.io/types/status/v0",
    ]

    async def bob_knows() -> bool:
        subscribers = await bob.server.app[FEDERATION_STORE].subscribers()
        return "https://tent.io/types/status/v0" in subscribers.get(tent.entity, [])

    await eventually(bob_knows)
    news = await bob.status("Bob says hello")

    async def in_timeline() -> bool:
        await page.goto(tent.base + "/owner")
        return news["id"] in [
            await li.get_attribute("data-post") for li in await page.locator("#timeline li").all()
        ]

    await eventually(in_timeline)
    await page.goto(tent.base + "/owner/people")
    await assert_fits(page, "owner-people")

    await submit(page, "#followings button.danger")
    assert await flash(page) == f"Unfollowed {bob.entity}."
    assert (await page.locator("#followings").inner_text()).strip() == "You follow nobody yet."
    subs = (await tent.feed("?types=" + quote(SUBSCRIPTION)))["posts"]
    assert [s for s in subs if s["content"]["type"] != META] == []


async def _approved_app(tent: Tent) -> tuple[dict[str, Any], Any]:
    """An app authorized through an authorization request the owner's app approves."""
    app = await register_app(tent, "https://app.example/callback", name="Photo Frame")
    as_app = tent.as_app(app["credentials"], app["id"])
    asked = await (await as_app.post("/oauth/requests", json={"code": "1234"})).json()
    decided = await tent.client.put(f"/oauth/requests/{asked['stamp']}", json={"result": "yes"})
    assert decided.status == 200, await decided.text()
    token = (await (await as_app.get(f"/oauth/requests/{asked['stamp']}")).json())["credentials"]
    return app, tent.as_app(token, app["id"])


async def test_revoking_an_app_in_the_browser_refuses_its_token_at_once(
    make_server: MakeServer, browser: BrowserContext
) -> None:
    tent = await owner_server(make_server)
    app, client = await _approved_app(tent)
    assert (await client.get("/posts")).status == 200
    page = await new_page(browser)
    await sign_in_at(page, tent.base + "/owner/apps")

    item = page.locator("#apps li.app", has_text="Photo Frame")
    assert (await item.locator(".app-url").inner_text()).strip() == app["url"]
    assert await texts(item, ".permissions .words") == [
        "read and write your statuses",
        "read your photos",
        "choose who may see the posts it writes",
    ]
    assert await texts(item, ".permissions code") == [
        "https://tent.io/types/status/v0",
        "https://tent.io/types/photo/v0",
        "permissions",
    ]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    assert re.fullmatch(stamp, (await item.locator(".approved").inner_text()).strip())

    async def used() -> bool:
        await page.reload()
        return bool(re.fullmatch(stamp, (await item.locator(".last-used").inner_text()).strip()))

    await eventually(used)
    owner_item = page.locator("#apps li.app", has_text="Owner")
    assert await owner_item.locator("button").count() == 0, "the server's own app is not revocable here"
    await assert_fits(page, "owner-apps")

    assert await submit(page, "#apps li.app:has-text('Photo Frame') button.danger") == 200
    assert await flash(page) == "Revoked Photo Frame: its key no longer works."
    assert await page.locator("#apps li.app", has_text="Photo Frame").count() == 0
    refused = await client.get("/posts")
    assert refused.status == 403
    assert (await refused.json())["error"] == "Authentication failure: Unidentified id"


async def test_owner_retries_a_failed_delivery_once_the_peer_is_back_and_gives_up_on_another(
    make_server: MakeServer, browser: BrowserContext
) -> None:
    tent = await owner_server(make_server, delivery_retry_base=3600)
    port, other = free_port(), free_port()
    peer = f"http://127.0.0.1:{port}"
    post = await tent.status("For the peer", mentions=[{"entity": peer}])
    lost = await tent.status("For nobody", mentions=[{"entity": f"http://127.0.0.1:{other}"}])

    async def failed_once(post_id: str) -> dict | None:
        rows = await deliveries(tent, post_id)
        return rows[0] if rows and rows[0]["attempts"] >= 1 and rows[0]["last_error"] else None

    await eventually(lambda: failed_once(post["id"]))
    await eventually(lambda: failed_once(lost["id"]))
    page = await new_page(browser)
    await sign_in_at(page, tent.base + "/owner/deliveries")
    row = page.locator(f"li.delivery[data-target='{peer}']")
    assert (await row.locator(".state").inner_text()).strip() == "pending"
    assert (await row.locator(".attempts").inner_text()).strip() == "1"
    reason = (await row.locator(".reason").inner_text()).strip()
    assert reason == "Could not reach their server: connection refused by 127.0.0.1.", reason
    assert "Error(" not in await page.locator("#deliveries").inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", (await row.locator(".next").inner_text()).strip())
    await assert_fits(page, "owner-deliveries")

    back = await make_server(port=port, entity=peer)
    retried = await row.get_attribute("data-id")
    assert (
        await submit(page, f"li.delivery[data-id='{await row.get_attribute('data-id')}'] button.primary")
        == 200
    )
    assert await flash(page) == f"Trying the delivery to {peer} again now."

    async def delivered() -> bool:
        return (await deliveries(tent, post["id"]))[0]["state"] == "delivered"

    await eventually(delivered)
    copy = await back.client.get(
        back.post_path(post["id"], tent.entity), headers={"Cache-Control": "no-proxy"}
    )
    assert copy.status == 200

    await page.reload()
    assert await page.locator(f"li.delivery[data-id='{retried}']").count() == 0, "delivered: no longer listed"
    gone = page.locator(f"li.delivery[data-target='http://127.0.0.1:{other}']")
    assert await submit(page, f"li.delivery[data-target='http://127.0.0.1:{other}'] button.danger") == 200
    assert await flash(page) == f"Gave up on the delivery to http://127.0.0.1:{other}."
    assert (await gone.locator(".state").inner_text()).strip() == "failed"
    assert (await gone.locator(".reason").inner_text()).strip() == "You gave up on this delivery."
    assert (await deliveries(tent, lost["id"]))[0]["state"] == "failed"


async def test_editing_the_profile_makes_a_new_meta_version_shown_on_the_public_page(
    make_server: MakeServer, browser: BrowserContext, tmp_path: Any
) -> None:
    tent = await owner_server(make_server)
    before = (await tent.feed("?types=" + quote(META)))["posts"][0]
    page = await new_page(browser)
    await sign_in_at(page, tent.base + "/owner/profile")
    await page.fill("#name", "Alice <Example>")
    await page.fill("#bio", "Writes about tents & trees.")
    await page.fill("#website", "https://alice.example/")
    avatar = tmp_path / "me.png"
    avatar.write_bytes(make_png(64, 64, (30, 120, 200)))
    await page.set_input_files("#avatar", str(avatar))
    status = await submit(page, "#profile-form button[type=submit]")
    assert status == 200, await page.locator("main").inner_text()
    assert await flash(page) == "Saved your profile: a new version of your meta post."
    assert await image_loaded(page, "img.avatar")
    await assert_fits(page, "owner-profile")

    meta = (await tent.feed("?types=" + quote(META)))["posts"][0]
    assert meta["id"] == before["id"] and meta["version"]["id"] != before["version"]["id"]
    assert meta["version"]["parents"] == [{"version": before["version"]["id"]}]
    profile = meta["content"]["profile"]
    assert {k: profile[k] for k in ("name", "bio", "website")} == {
        "name": "Alice <Example>",
        "bio": "Writes about tents & trees.",
        "website": "https://alice.example/",
    }
    (attachment,) = meta["attachments"]
    assert attachment["digest"] == profile["avatar_digest"] and attachment["category"] == "avatar"

    await browser.clear_cookies()  # now a visitor
    other = page
    await other.goto(tent.base + "/")
    assert (await other.locator("#name").inner_text()).strip() == "Alice <Example>"
    assert (await other.locator("#bio").inner_text()).strip() == "Writes about tents & trees."
    assert await image_loaded(other, "#profile img.avatar"), "a visitor may load the public avatar"


async def test_a_visitor_sees_the_profile_public_posts_and_a_post_page_but_nothing_private(
    make_server: MakeServer, browser: BrowserContext
) -> None:
    tent = await owner_server(make_server)
    meta = (await tent.feed("?types=" + quote(META)))["posts"][0]
    await tent.update(meta, {**meta["content"], "profile": {"name": "Alice", "bio": "Hi <b>there</b>"}})
    public = await tent.status("A public thought <script>alert(1)</script>")
    secret = await tent.status("A private thought", permissions={"public": False})
    await tent.create(
        "https://tent.io/types/repost/v0#" + STATUS,
        refs=[{"entity": tent.entity, "post": public["id"], "type": STATUS}],
        mentions=[{"entity": tent.entity, "post": public["id"]}],
    )
    page = await new_page(browser)  # never signed in: a visitor
    response = await page.goto(tent.base + "/")
    assert response is not None and response.status == 200
    assert response.headers["link"].endswith('rel="https://tent.io/rels/meta-post"')
    assert (await page.locator("#name").inner_text()).strip() == "Alice"
    assert (await page.locator("#bio").inner_text()).strip() == "Hi <b>there</b>", "escaped, not markup"
    shown = await page.locator("#posts").inner_text()
    assert "A public thought <script>alert(1)</script>" in shown
    assert "A private thought" not in shown
    assert "Reposted from" in shown
    await assert_fits(page, "public-root")

    async with page.expect_navigation():
        await page.locator(f"li.post[data-post='{public['id']}'] a.permalink").click()
    assert (await page.locator("#post .text").inner_text()) == "A public thought <script>alert(1)</script>"
    assert await page.title() == "Alice: A public thought <script>alert(1)</script>"
    await assert_fits(page, "public-post")

    hidden = await page.goto(tent.base + tent.post_path(secret["id"]))
    assert hidden is not None and hidden.status == 404
    assert "A private thought" not in await page.content()

    async with aiohttp.ClientSession() as http:
        url = tent.base + tent.post_path(public["id"])
        async with http.get(url, headers={"Accept": HTML_ACCEPT}) as resp:
            assert resp.content_type == "text/html" and resp.headers["Vary"] == "Accept"
            assert "script-src" not in resp.headers["Content-Security-Policy"]
        for accept in (POST_MT, "*/*", None):
            async with http.get(url, headers={"Accept": accept} if accept else {}) as resp:
                assert resp.status == 200 and resp.content_type == POST_MT, accept
                assert (await resp.json())["post"]["id"] == public["id"]


async def test_owner_pages_the_timeline_reposts_a_post_and_writes_to_a_group(
    make_server: MakeServer, browser: BrowserContext
) -> None:
    tent = await owner_server(make_server)
    written = [await tent.status(f"Status number {n}") for n in range(22)]
    group = await tent.create(GROUP, {"name": "Family"}, permissions={"public": False})
    page = await new_page(browser)
    await sign_in_at(page, tent.base + "/owner")

    newest = [await li.get_attribute("data-post") for li in await page.locator("#timeline li.post").all()]
    assert newest == [p["id"] for p in reversed(written)][:20], "the newest page, newest first"
    async with page.expect_navigation():
        await page.click("#older")
    older = [await li.get_attribute("data-post") for li in await page.locator("#timeline li.post").all()]
    assert older == [written[1]["id"], written[0]["id"]], "the rest, with no overlap"
    assert (
        await page.locator("#older").count() == 0
        and await page.locator(".pager a", has_text="Newest").count()
    )

    await page.goto(tent.base + "/owner")
    top = page.locator(f"#timeline li.post[data-post='{written[-1]['id']}']")
    async with page.expect_navigation():
        await top.locator("button", has_text="Repost").click()
    assert await flash(page) == f"Reposted the post by {tent.entity}."
    shown = page.locator("#timeline li.post").first
    assert "Reposted from" in await shown.inner_text()
    assert (await shown.locator(".quoted .text").inner_text()) == "Status number 21", "with the original"
    repost = (await tent.feed("?types=" + quote(REPOST_BASE)))["posts"][0]
    assert [(r["post"], r["type"]) for r in repost["refs"]] == [(written[-1]["id"], STATUS)]

    await page.fill("#text", "Only for the family")
    await page.select_option("#audience", "private")
    await page.check(f"input[name=group][value='{group['id']}']")
    assert await submit(page, "#compose button[type=submit]") == 200
    assert await flash(page) == "Published your status."
    private = (await tent.feed("?types=" + quote(STATUS_BASE)))["posts"][0]
    assert private["content"]["text"] == "Only for the family"
    assert private["permissions"] == {"public": False, "groups": [{"post": group["id"]}]}
    visitor = await tent.anon.get(tent.post_path(private["id"]))
    assert visitor.status == 404, "a group post is not public"


async def test_an_app_approved_through_oauth_is_listed_and_revocable_on_the_apps_page(
    make_server: MakeServer, browser: BrowserContext
) -> None:
    tent = await owner_server(make_server)
    app = await register_app(tent, tent.base + "/", name="Oauth Reader")
    page = await new_page(browser)
    await sign_in_at(
        page, tent.base + "/oauth/authorize?" + urlencode({"client_id": app["id"], "state": "s"})
    )
    async with page.expect_navigation():
        await page.click("button[name=decision][value=approve]")
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    as_app = tent.as_app(app["credentials"], app["id"])
    exchanged = await as_app.post("/oauth/token", json={"code": code, "token_type": TOKEN_TYPE})
    assert exchanged.status == 200, await exchanged.text()
    client = tent.as_app(await exchanged.json(), app["id"])
    assert (await client.get("/posts")).status == 200

    await page.goto(tent.base + "/owner/apps")
    item = page.locator("#apps li.app", has_text="Oauth Reader")
    assert (await item.locator(".app-url").inner_text()).strip() == app["url"]
    assert "read and write your statuses" in await texts(item, ".permissions .words")
    assert await submit(page, "#apps li.app:has-text('Oauth Reader') button.danger") == 200
    assert await flash(page) == "Revoked Oauth Reader: its key no longer works."
    assert (await client.get("/posts")).status == 403
