"""The example conversation of seed 000 (docs/protocol.md Appendix B), told in Tent v0.3
between three servers on loopback: Jerrold posts to his "friends" group (Kavon and Shirley);
the servers deliver it; Kavon's client gets it at once while Shirley's client is in
maintenance (503); Kavon replies and Jerrold's client is told; Jerrold reposts the reply to
his friends; Shirley's client comes back and receives both posts, in order, once; finally
Shirley's client asks her server for a post of Jerrold's she may not read, and the origin's
404 comes back unchanged."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

from tests.app_helpers import app_body, register
from tests.conftest import Tent
from tests.fed_helpers import eventually, start_hook, subscribe, wait_copy, wait_delivered

REPLY = "https://tent.io/types/status/v0#reply"
REPOST = "https://tent.io/types/repost/v0#" + REPLY
GROUP = "https://tent.io/types/group/v0#"
MEMBER = "https://tent.io/types/group-member/v0#"
TYPES = ["https://tent.io/types/status/v0", "https://tent.io/types/repost/v0"]


async def client_app(tent: Tent, url: str) -> None:
    """The user's status client on their own server, notified of statuses and reposts."""
    app, _ = await register(tent, app_body(TYPES, TYPES, notification_url=url, notification_types=TYPES))
    resp = await tent.anon.get(f"/oauth/authorize?client_id={app['id']}")
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["code"]


async def test_seed_000_conversation(make_server, aiohttp_server) -> None:
    jerrold, kavon, shirley = await make_server(), await make_server(), await make_server()
    j_hook, j_url = await start_hook(aiohttp_server)
    k_hook, k_url = await start_hook(aiohttp_server)
    s_hook, s_url = await start_hook(aiohttp_server)
    j_hook.status = k_hook.status = 200  # Shirley's client is in maintenance: 503
    for tent, url in ((jerrold, j_url), (kavon, k_url), (shirley, s_url)):
        await client_app(tent, url)
    for follower in (kavon, shirley):
        for selector in TYPES:
            sub = await subscribe(follower, jerrold, selector)
            await wait_delivered(follower, sub["id"], jerrold.entity)

    # Jerrold's friends group: Kavon and Shirley
    friends = await jerrold.create(GROUP, {"name": "friends"}, permissions={"public": False})
    for member in (kavon, shirley):
        await jerrold.create(
            MEMBER,
            {"entity": member.entity},
            mentions=[{"post": friends["id"]}],
            permissions={"public": False},
        )
    to_friends = {"public": False, "groups": [{"post": friends["id"]}]}

    kittens = await jerrold.status("I love kittens!", permissions=to_friends)
    for member in (kavon, shirley):
        await wait_delivered(jerrold, kittens["id"], member.entity)
        await wait_copy(member, jerrold.entity, kittens["id"])

    async def kavon_client_has(post_id: str):
        return any(p["id"] == post_id for p in k_hook.received)

    await eventually(lambda: kavon_client_has(kittens["id"]))
    assert s_hook.received == []

    # Kavon replies; his server sends it to Jerrold's, which tells Jerrold's client
    reply = await kavon.create(
        REPLY,
        {"text": "Me too!"},
        mentions=[{"entity": jerrold.entity, "post": kittens["id"]}],
        refs=[{"entity": jerrold.entity, "post": kittens["id"]}],
    )
    await wait_delivered(kavon, reply["id"], jerrold.entity)

    async def jerrold_client_has_reply():
        return any(p["id"] == reply["id"] and p["entity"] == kavon.entity for p in j_hook.received)

    await eventually(jerrold_client_has_reply)

    # Jerrold reposts Kavon's reply to his friends
    repost = await jerrold.create(
        REPOST,
        None,
        permissions=to_friends,
        refs=[{"entity": kavon.entity, "post": reply["id"], "type": REPLY}],
        mentions=[{"entity": kavon.entity, "post": reply["id"]}],
    )
    await wait_delivered(jerrold, repost["id"], shirley.entity)
    await wait_delivered(jerrold, repost["id"], kavon.entity)

    # Shirley's client comes back and receives both posts, in order, once
    assert s_hook.attempts >= 1 and s_hook.received == []
    s_hook.status = 200

    async def shirley_client_has_both():
        return len(s_hook.received) >= 2

    await eventually(shirley_client_has_both)
    await asyncio.sleep(0.3)
    assert [p["id"] for p in s_hook.received] == [kittens["id"], repost["id"]]
    assert s_hook.received[0]["content"] == {"text": "I love kittens!"}

    # Shirley's client asks her server for a post of Jerrold's that is not for her
    for_kavon = await jerrold.status(
        "just for Kavon", permissions={"public": False, "entities": [kavon.entity]}
    )
    resp = await shirley.client.get(shirley.post_path(for_kavon["id"], jerrold.entity))
    assert resp.status == 404
    # ...while a post she may read comes through her server
    resp = await shirley.client.get(
        shirley.post_path(kittens["id"], jerrold.entity), headers={"Cache-Control": "proxy"}
    )
    assert resp.status == 200 and (await resp.json())["post"]["content"]["text"] == "I love kittens!"
