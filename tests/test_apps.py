"""App registration, OAuth in test mode, the token exchange, and what a token allows (§6)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tent.canonical import version_id
from tests.app_helpers import APP, APP_AUTH, ESSAY, TOKEN_TYPE, app_body, authorize, register
from tests.conftest import POST_MT, STATUS, Tent


async def test_registration_returns_the_app_and_a_bewit_link_to_its_credentials(tent: Tent) -> None:
    app, creds = await register(tent)
    assert app["type"] == APP and app["permissions"] == {"public": False}
    assert app["version"]["id"] == version_id(app)
    assert creds["type"] == "https://tent.io/types/credentials/v0#https://tent.io/types/app/v0"
    assert creds["mentions"] == [{"post": app["id"], "type": APP}]
    assert creds["content"]["hawk_algorithm"] == "sha256" and len(creds["content"]["hawk_key"]) == 64


async def test_app_post_carries_a_private_mention_of_its_credentials(tent: Tent) -> None:
    app, creds = await register(tent)
    stored = await tent.client.get(tent.post_path(app["id"]))
    mentions = (await stored.json())["post"]["mentions"]
    assert {"post": creds["id"], "type": creds["type"], "public": False} in mentions


async def test_app_credentials_read_and_update_only_their_own_app_post(tent: Tent) -> None:
    app, creds = await register(tent)
    client = tent.as_app(creds, app["id"])
    assert (await client.get(tent.post_path(app["id"]))).status == 200
    secret = await tent.status("owner only", permissions={"public": False})
    assert (await client.get(tent.post_path(secret["id"]))).status == 404
    body = app_body([STATUS], [STATUS], notification_url="https://app.example.com/hook")
    body["version"] = {"parents": [{"version": app["version"]["id"]}]}
    resp = await client.put(
        tent.post_path(app["id"]), json=body, headers={"Content-Type": f'{POST_MT}; type="{APP}"'}
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["post"]["content"]["notification_url"] == "https://app.example.com/hook"
    other, _ = await register(tent)
    body["version"] = {"parents": [{"version": other["version"]["id"]}]}
    resp = await client.put(
        tent.post_path(other["id"]), json=body, headers={"Content-Type": f'{POST_MT}; type="{APP}"'}
    )
    assert resp.status == 404  # a private post it may not read does not exist for it
    resp = await client.post(
        "/posts",
        json={"type": STATUS, "content": {"text": "x"}},
        headers={"Content-Type": f'{POST_MT}; type="{STATUS}"'},
    )
    assert resp.status == 403


async def test_oauth_auth_in_test_mode_redirects_with_code_and_state(tent: Tent) -> None:
    app, _ = await register(tent)
    resp = await tent.anon.get(f"/oauth/authorize?client_id={app['id']}&state=a%20b%26c")
    assert resp.status == 302
    location = urlsplit(resp.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "app.example.com", "/oauth")
    query = parse_qs(location.query)
    assert query["x"] == ["1"] and query["state"] == ["a b&c"] and query["code"][0]


async def test_oauth_auth_without_or_with_unknown_client_id_is_400(tent: Tent) -> None:
    resp = await tent.anon.get("/oauth/authorize")
    assert resp.status == 400 and await resp.json() == {"error": "client_id missing"}
    resp = await tent.anon.get("/oauth/authorize?client_id=nope")
    assert resp.status == 400 and await resp.json() == {"error": "invalid client_id"}
    status = await tent.status("not an app")
    resp = await tent.anon.get(f"/oauth/authorize?client_id={status['id']}")
    assert resp.status == 400


async def test_token_exchange_gives_hawk_credentials_once(tent: Tent) -> None:
    app, creds = await register(tent, app_body([STATUS], [ESSAY], ["import"]))
    resp = await tent.anon.get(f"/oauth/authorize?client_id={app['id']}")
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    client = tent.as_app(creds, app["id"])
    token = await client.post("/oauth/token", json={"code": code, "token_type": TOKEN_TYPE})
    assert token.status == 200
    assert token.headers["Content-Type"].startswith("application/json")
    body = await token.json()
    assert set(body) == {"access_token", "hawk_key", "hawk_algorithm", "token_type"}
    assert body["token_type"] == TOKEN_TYPE and body["hawk_algorithm"] == "sha256"
    again = await client.post("/oauth/token", json={"code": code})
    assert again.status == 403 and await again.json() == {"error": "Invalid token code"}
    # the grant is recorded in an app-auth post
    authed = tent.as_app(body, app["id"])
    creds_post = (await (await tent.client.get(tent.post_path(body["access_token"]))).json())["post"]
    auth_id = creds_post["mentions"][0]["post"]
    grant = (await (await tent.client.get(tent.post_path(auth_id))).json())["post"]
    assert grant["type"] == APP_AUTH
    assert grant["content"] == {"types": {"read": [STATUS], "write": [ESSAY]}, "scopes": ["import"]}
    assert {"post": app["id"], "type": APP, "version": app["version"]["id"]} in grant["mentions"]
    assert (await authed.get("/posts")).status == 200


async def test_token_exchange_checks_code_and_signer(tent: Tent) -> None:
    app, creds = await register(tent)
    other, other_creds = await register(tent)
    resp = await tent.anon.get(f"/oauth/authorize?client_id={app['id']}")
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    missing = await tent.as_app(creds, app["id"]).post("/oauth/token", json={"token_type": TOKEN_TYPE})
    assert missing.status == 400 and await missing.json() == {"error": "Token code required!"}
    unknown = await tent.as_app(creds, app["id"]).post("/oauth/token", json={"code": "nope"})
    assert unknown.status == 403
    wrong_app = await tent.as_app(other_creds, other["id"]).post("/oauth/token", json={"code": code})
    assert wrong_app.status == 401
    assert await wrong_app.json() == {"error": "Request must be signed using app credentials"}
    unsigned = await tent.anon.post("/oauth/token", json={"code": code})
    assert unsigned.status == 401
    ok = await tent.as_app(creds, app["id"]).post("/oauth/token", json={"code": code})
    assert ok.status == 200


async def test_authorized_app_writes_only_its_types_and_its_posts_carry_the_app(tent: Tent) -> None:
    client = await authorize(tent, [ESSAY], [STATUS])
    resp = await client.post(
        "/posts",
        json={"type": STATUS, "content": {"text": "from app"}},
        headers={"Content-Type": f'{POST_MT}; type="{STATUS}"'},
    )
    assert resp.status == 200
    post = (await resp.json())["post"]
    assert post["app"]["name"] == "Example App" and post["app"]["url"] == "https://app.example.com"
    resp = await client.post(
        "/posts",
        json={"type": ESSAY, "content": {"body": "no"}},
        headers={"Content-Type": f'{POST_MT}; type="{ESSAY}"'},
    )
    assert resp.status == 403
    essay = await tent.create(ESSAY, {"body": "owner's"})
    body = {
        "type": ESSAY,
        "content": {"body": "edit"},
        "version": {"parents": [{"version": essay["version"]["id"]}]},
    }
    resp = await client.put(
        tent.post_path(essay["id"]), json=body, headers={"Content-Type": f'{POST_MT}; type="{ESSAY}"'}
    )
    assert resp.status == 403
    assert (await client.delete(tent.post_path(essay["id"]))).status == 403
    mine = await client.delete(tent.post_path(post["id"]))
    assert mine.status == 200


async def test_revoking_the_grant_refuses_the_token(tent: Tent) -> None:
    """Deleting the app-auth post deletes its key too: the token is refused at once, not
    merely left with the rights of an anonymous reader."""
    client = await authorize(tent, [STATUS], [STATUS])
    assert (await client.get("/posts")).status == 200
    creds_id = client.creds.id
    creds_post = (await (await tent.client.get(tent.post_path(creds_id))).json())["post"]
    auth_id = creds_post["mentions"][0]["post"]
    assert (await tent.client.delete(tent.post_path(auth_id))).status == 200
    secret = await tent.status("private", permissions={"public": False})
    refused = await client.get(tent.post_path(secret["id"]))
    assert refused.status == 403
    assert (await refused.json())["error"] == "Authentication failure: Unidentified id"
    resp = await client.post(
        "/posts",
        json={"type": STATUS, "content": {"text": "x"}},
        headers={"Content-Type": f'{POST_MT}; type="{STATUS}"'},
    )
    assert resp.status == 403
    assert (await tent.client.get(tent.post_path(creds_id))).status == 404, "the key is gone"


async def test_owner_app_may_grant_an_app_directly_with_an_app_auth_post(tent: Tent) -> None:
    app, _ = await register(tent)
    body = {
        "type": APP_AUTH,
        "content": {"types": {"read": [STATUS], "write": []}, "scopes": []},
        "mentions": [{"post": app["id"], "type": APP}],
        "permissions": {"public": False},
    }
    resp = await tent.client.post(
        "/posts", json=body, headers={"Content-Type": f'{POST_MT}; type="{APP_AUTH}"'}
    )
    assert resp.status == 200, await resp.text()
    m = re.fullmatch(r'<([^>]+)>; rel="([^"]+)"', resp.headers["Link"])
    assert m
    creds = (await (await tent.anon.get(m.group(1).removeprefix(tent.base))).json())["post"]
    client = tent.as_app(creds, app["id"])
    secret = await tent.status("private status", permissions={"public": False})
    assert (await client.get(tent.post_path(secret["id"]))).status == 200
    no_app = {**body, "mentions": [{"entity": "https://else.example", "post": "x", "type": APP}]}
    resp = await tent.client.post(
        "/posts", json=no_app, headers={"Content-Type": f'{POST_MT}; type="{APP_AUTH}"'}
    )
    assert resp.status == 400 and await resp.json() == {"error": "Post must mention an app"}


async def test_credentials_json_owner_app_has_every_right(tent: Tent) -> None:
    for post_type, content in (
        (STATUS, {"text": "x"}),
        (ESSAY, {"body": "y"}),
        ("https://example.org/types/custom/v0#", {"z": 1}),
    ):
        await tent.create(
            post_type, content, permissions={"public": False, "entities": ["https://b.example"]}
        )
    feed = await tent.feed("?limit=200")
    assert {p["type"] for p in feed["posts"]} >= {STATUS, ESSAY, APP, APP_AUTH}
