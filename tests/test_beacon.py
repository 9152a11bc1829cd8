"""The signed manifest (seed 001): each entity's Ed25519 keys by life in its meta post, the
proofs at `/.well-known/appspecific/io.tent.beacon.json`, and authorization requests that
name a turf checked against them, with three servers and a web site on loopback."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import AsyncIterator
from html import unescape

import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tent import keys
from tent.config import Settings
from tent.handlers.common import FEDERATION_STORE, POSTS
from tests.app_helpers import ask, owner_session, register
from tests.browser_helpers import browser, new_page, owner_server, sign_in  # noqa: F401 (fixture)
from tests.conftest import Tent
from tests.fed_helpers import eventually, subscribe, wait_delivered
from tests.processes import run_tent as _run
from tests.processes import tent_env as _env

MANIFEST = "/.well-known/appspecific/io.tent.beacon.json"
META = "https://tent.io/types/meta/v0"


class Site:
    """A web site on port 80 of its own loopback address (the turf), publishing whatever
    manifest the test gives it, as fast or as slowly as asked."""

    def __init__(self) -> None:
        self.turf = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        self.body: bytes = b"[]"
        self.content_type = "application/json"
        self.delay = 0.0
        app = web.Application()
        app.router.add_get(MANIFEST, self._manifest)
        self.server = TestServer(app, host=self.turf, port=80)

    async def _manifest(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay)
        return web.Response(body=self.body, content_type=self.content_type)

    def publish(self, proofs: list[dict]) -> None:
        self.body = orjson.dumps(proofs)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    s = Site()
    try:
        await s.server.start_server()
    except PermissionError:
        pytest.skip("a web site on port 80 needs root or CAP_NET_BIND_SERVICE")
    yield s
    await s.server.close()


async def manifest_of(tent: Tent) -> list[dict]:
    resp = await tent.anon.get(MANIFEST)
    assert resp.status == 200 and resp.content_type == "application/json"
    return await resp.json()


async def meta_of(tent: Tent) -> dict:
    return (await tent.feed(f"?types={META}"))["posts"][0]


def signature_holds(public_key: str, sign: str, turf: str) -> bool:
    from cryptography.exceptions import InvalidSignature

    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    try:
        key.verify(base64.b64decode(sign), turf.encode())
    except InvalidSignature:
        return False
    return True


async def rotate(tent: Tent) -> str:
    """`tent keys rotate`, run as the owner would, against the running server's database."""
    env = _env(TENT_DATABASE_URL=tent.settings.database_url, TENT_ENTITY=tent.entity)
    result = await _run("keys", "rotate", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


# -- keys and the manifest -------------------------------------------------------------------


async def test_meta_post_publishes_an_ed25519_key_of_life_one(tent: Tent) -> None:
    [key] = (await meta_of(tent))["content"]["keys"]
    assert key["life"] == 1 and key["algorithm"] == "ed25519"
    assert len(base64.b64decode(key["public_key"], validate=True)) == 32


async def test_manifest_is_at_the_host_root_even_when_the_entity_has_a_path(
    make_server, unused_tcp_port_factory
) -> None:
    port = unused_tcp_port_factory()
    tent = await make_server(
        entity=f"http://127.0.0.1:{port}/alice", port=port, beacon_turfs=("example.com", "shop.example.com")
    )
    proofs = await manifest_of(tent)
    assert [p["turf"] for p in proofs] == ["example.com", "shop.example.com"]
    meta = await (await tent.anon.get(f"/alice/posts?types={META}")).json()
    [key] = meta["posts"][0]["content"]["keys"]
    for proof in proofs:
        assert set(proof) == {"turf", "life", "entity", "sign"}
        assert proof["entity"] == tent.entity and proof["life"] == 1
        assert signature_holds(key["public_key"], proof["sign"], proof["turf"])
    assert (await tent.anon.get(f"/alice{MANIFEST}")).status == 404


async def test_default_turf_is_the_entity_host(tent: Tent) -> None:
    assert [p["turf"] for p in await manifest_of(tent)] == ["127.0.0.1"]


@pytest.mark.parametrize(
    "turfs",
    ["https://example.com", "example.com:8080", "example.com/tent", "example.com.", "ex ample.com", "-x.com"],
)
def test_turfs_that_are_not_bare_domains_are_refused_at_start(turfs: str) -> None:
    with pytest.raises(ValueError, match="TENT_BEACON_TURFS"):
        Settings(beacon_turfs=tuple(turfs.split(",")))


async def test_serve_with_a_bad_turf_exits_with_a_clear_error() -> None:
    result = await _run("serve", env=_env(TENT_BEACON_TURFS="example.com,https://shop.example"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "TENT_BEACON_TURFS" in result.stderr and "not a bare domain" in result.stderr


async def test_rotation_adds_a_life_signs_with_it_and_reaches_followers(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    follow = await subscribe(bob, alice)
    await wait_delivered(bob, follow["id"], alice.entity)
    [first] = (await meta_of(alice))["content"]["keys"]
    assert "life 2" in await rotate(alice)
    listed = (await meta_of(alice))["content"]["keys"]
    assert [k["life"] for k in listed] == [1, 2] and listed[0] == first
    [proof] = await manifest_of(alice)
    assert proof["life"] == 2 and signature_holds(listed[1]["public_key"], proof["sign"], proof["turf"])
    assert not signature_holds(first["public_key"], proof["sign"], proof["turf"])

    async def bob_knows_both_lives():
        rel = await bob.server.app[FEDERATION_STORE].relationship(alice.entity)
        return [k["life"] for k in rel.remote_meta["content"].get("keys", [])] == [1, 2]

    await eventually(bob_knows_both_lives)


async def test_a_server_that_gains_keys_at_start_tells_its_relationships(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    follow = await subscribe(bob, alice)
    await wait_delivered(bob, follow["id"], alice.entity)
    known_before = (await bob.server.app[FEDERATION_STORE].relationship(alice.entity)).remote_meta[
        "content"
    ].get("keys")
    await alice.server.close()
    conn = await asyncpg.connect(alice.settings.database_url)
    try:  # as if alice had run a version of the server from before signing keys
        await conn.execute("DELETE FROM server_state WHERE key = $1", keys.SIGNING_KEYS_KEY)
    finally:
        await conn.close()
    again = await make_server(
        entity=alice.entity, port=alice.settings.port, database_url=alice.settings.database_url
    )
    published = (await meta_of(again))["content"]["keys"]
    # What Bob knew before the restart, not now: the update may already have reached him.
    assert published != known_before

    async def bob_knows_the_new_key():
        rel = await bob.server.app[FEDERATION_STORE].relationship(alice.entity)
        return rel.remote_meta["content"].get("keys") == published

    await eventually(bob_knows_the_new_key)


# -- checking a turf named by an authorization request ----------------------------------------


async def ask_for(verifier: Tent, turf: str, entity: str) -> dict:
    entry, _ = await ask(verifier, turf=turf, entity=entity)
    assert entry["request"]["turf"] == turf and entry["request"]["entity"] == entity
    return entry


@pytest.fixture
async def three(make_server, site: Site) -> tuple[Tent, Tent, Tent, Site]:
    """The verifier (receives requests), the entity the site names, another entity."""
    verifier = await make_server(beacon_timeout=0.5)
    named = await make_server(beacon_turfs=(site.turf,))
    other = await make_server(beacon_turfs=(site.turf,))
    return verifier, named, other, site


async def test_good_proof_is_verified(three) -> None:
    verifier, named, _, site = three
    site.publish(await manifest_of(named))
    entry = await ask_for(verifier, site.turf, named.entity)
    assert entry["turf_verified"] is True and "turf_reason" not in entry


async def test_wrong_signature_is_not_verified(three) -> None:
    verifier, named, _, site = three
    [proof] = await manifest_of(named)
    raw = bytearray(base64.b64decode(proof["sign"]))
    raw[10] ^= 0x01
    site.publish([{**proof, "sign": base64.b64encode(bytes(raw)).decode()}])
    entry = await ask_for(verifier, site.turf, named.entity)
    assert entry["turf_verified"] is False
    assert entry["turf_reason"] == "the signature does not match the entity's key of life 1"


async def test_proof_signed_by_another_entitys_key_is_not_verified(three) -> None:
    verifier, named, other, site = three
    [theirs] = await manifest_of(other)
    site.publish([{**theirs, "entity": named.entity}])
    entry = await ask_for(verifier, site.turf, named.entity)
    assert entry["turf_verified"] is False and "signature does not match" in entry["turf_reason"]


async def test_manifest_without_a_proof_for_the_entity_is_not_verified(three) -> None:
    verifier, named, other, site = three
    site.publish(await manifest_of(other))
    entry = await ask_for(verifier, site.turf, named.entity)
    assert entry["turf_reason"] == f"the manifest has no proof for {named.entity}"


async def test_old_proof_still_verifies_after_rotation_but_not_as_a_newer_life(three) -> None:
    verifier, named, _, site = three
    [old] = await manifest_of(named)
    site.publish([old])
    assert (await ask_for(verifier, site.turf, named.entity))["turf_verified"] is True  # meta now cached
    await rotate(named)
    assert (await ask_for(verifier, site.turf, named.entity))["turf_verified"] is True
    [new] = await manifest_of(named)
    site.publish([new])  # life 2: the verifier looks again at the meta post it had cached
    assert (await ask_for(verifier, site.turf, named.entity))["turf_verified"] is True
    site.publish([{**old, "life": 2}])
    entry = await ask_for(verifier, site.turf, named.entity)
    assert entry["turf_reason"] == "the signature does not match the entity's key of life 2"
    site.publish([{**old, "life": 3}])
    entry = await ask_for(verifier, site.turf, named.entity)
    assert entry["turf_reason"] == "the entity publishes no ed25519 key of life 3"


@pytest.mark.parametrize(
    ("serve", "reason"),
    [
        ({"body": b"<html>not a manifest</html>", "content_type": "text/html"}, "is not JSON"),
        ({"body": b"[" + b'"padding",' * 20_000 + b"0]"}, "larger than 65536 bytes"),
        ({"delay": 3.0}, "no answer within 0.5 s"),
        ({"body": b'{"turf": "not an array"}'}, "the manifest is not an array of proofs"),
    ],
    ids=["not json", "too large", "slow", "not an array"],
)
async def test_a_bad_manifest_is_not_verified(three, serve: dict, reason: str) -> None:
    verifier, named, _, site = three
    for name, value in serve.items():
        setattr(site, name, value)
    entry = await ask_for(verifier, site.turf, named.entity)
    assert entry["turf_verified"] is False and reason in entry["turf_reason"]


async def test_manifest_on_a_private_address_is_refused_by_the_guard(make_server, site: Site) -> None:
    guarded = await make_server(allow_private_addresses=False)
    named = await make_server(beacon_turfs=(site.turf,))
    site.publish(await manifest_of(named))
    entry = await ask_for(guarded, site.turf, named.entity)
    assert entry["turf_verified"] is False
    assert f"refusing to connect to a private address: {site.turf}" in entry["turf_reason"]


@pytest.mark.parametrize(
    "body",
    [
        {"turf": "https://example.com", "entity": "https://example.com"},
        {"turf": "example.com:443", "entity": "https://example.com"},
        {"turf": "example.com/path", "entity": "https://example.com"},
        {"turf": "", "entity": "https://example.com"},
        {"turf": 5, "entity": "https://example.com"},
        {"turf": "example..com", "entity": "https://example.com"},
        {"turf": "example.com"},
        {"turf": "example.com", "entity": "not a url"},
    ],
)
async def test_malformed_turf_or_entity_is_400(tent: Tent, body: dict) -> None:
    app, creds = await register(tent)
    resp = await tent.as_app(creds, app["id"]).post("/oauth/requests", json=body)
    assert resp.status == 400, await resp.text()
    assert "error" in await resp.json()


async def test_approval_page_shows_each_outcome_and_approval_never_verifies(three) -> None:
    verifier, named, _, site = three
    site.publish(await manifest_of(named))
    good = await ask_for(verifier, site.turf, named.entity)
    site.body = b"not json"
    bad, app = await ask(verifier, turf=site.turf, entity=named.entity)
    session = await owner_session(verifier)
    try:
        html = unescape(await (await session.get(verifier.base + "/owner")).text())
    finally:
        await session.close()
    good_item = html.split(f'data-stamp="{good["stamp"]}"', 1)[1].split("</form></li>", 1)[0]
    bad_item = html.split(f'data-stamp="{bad["stamp"]}"', 1)[1].split("</form></li>", 1)[0]
    assert f'<p class="turf verified">{site.turf} — verified' in good_item
    assert (
        f'<p class="turf unverified">claims {site.turf} — not verified: the manifest at '
        f"http://{site.turf}{MANIFEST} is not JSON"
    ) in bad_item
    decided = await verifier.client.put(f"/oauth/requests/{bad['stamp']}", json={"result": "yes"})
    assert decided.status == 200
    polled = await (await app.get(f"/oauth/requests/{bad['stamp']}")).json()
    assert polled["result"] == "yes" and polled["turf_verified"] is False and "credentials" in polled


async def test_requests_without_a_turf_carry_no_verification(tent: Tent) -> None:
    entry, _ = await ask(tent)
    assert "turf_verified" not in entry and "turf" not in entry["request"]


async def test_signing_keys_are_made_once(tent: Tent) -> None:
    posts = tent.server.app[POSTS]
    first = await keys.ensure_signing_keys(posts)
    assert await keys.ensure_signing_keys(posts) == first and len(first) == 1


async def test_owner_sees_each_outcome_in_a_real_browser_and_approves_the_unverified(
    make_server, site: Site, browser  # noqa: F811 (the fixture imported above)
) -> None:
    verifier = await owner_server(make_server)
    named = await make_server(beacon_turfs=(site.turf,))
    site.publish(await manifest_of(named))
    good = await ask_for(verifier, site.turf, named.entity)
    site.publish([])
    bad, app = await ask(verifier, turf=site.turf, entity=named.entity)

    page = await new_page(browser)
    await page.goto(verifier.base + "/owner")
    assert await sign_in(page) == 200
    good_item = page.locator(f"li.request[data-stamp='{good['stamp']}']")
    bad_item = page.locator(f"li.request[data-stamp='{bad['stamp']}']")
    assert (await good_item.locator(".turf").inner_text()).strip() == (
        f"{site.turf} — verified (for {named.entity})"
    )
    assert (await bad_item.locator(".turf").inner_text()).strip() == (
        f"claims {site.turf} — not verified: the manifest has no proof for {named.entity}"
        f" (for {named.entity})"
    )
    async with page.expect_navigation():
        await bad_item.locator("button[name=decision][value=approve]").click()
    polled = await (await app.get(f"/oauth/requests/{bad['stamp']}")).json()
    assert polled["result"] == "yes" and polled["turf_verified"] is False
