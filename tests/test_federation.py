"""Two and three servers on loopback exchanging real HTTP: relationships, subscriptions,
notifications, deletes, meta changes, proxying (docs/protocol.md §7, §8)."""

from __future__ import annotations

from tests.conftest import STATUS
from tests.fed_helpers import (
    deliveries,
    eventually,
    set_profile,
    stored_copy,
    subscribe,
    wait_copy,
    wait_delivered,
)


async def test_subscribing_sets_up_a_relationship_and_public_posts_arrive(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    sub = await subscribe(bob, alice)
    await wait_delivered(bob, sub["id"], alice.entity)
    post = await alice.status("hello bob")
    await wait_delivered(alice, post["id"], bob.entity)
    copy = await wait_copy(bob, alice.entity, post["id"])
    assert copy["content"] == {"text": "hello bob"}
    assert copy["version"]["id"] == post["version"]["id"]
    assert copy["received_at"] >= post["received_at"]
    feed = await bob.feed("?entities=" + alice.entity)
    assert post["id"] in [p["id"] for p in feed["posts"]]


async def test_both_sides_end_with_working_relationship_credentials(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    sub = await subscribe(bob, alice)
    await wait_delivered(bob, sub["id"], alice.entity)
    from tent.handlers.common import FEDERATION_STORE

    a_rel = await alice.server.app[FEDERATION_STORE].relationship(bob.entity)
    b_rel = await bob.server.app[FEDERATION_STORE].relationship(alice.entity)
    assert a_rel and b_rel and a_rel.active and b_rel.active
    # each side signs with the credentials the other issued
    assert a_rel.remote_credentials["id"] == b_rel.our_credentials_id
    assert b_rel.remote_credentials["id"] == a_rel.our_credentials_id
    # bob's confirmed relationship post reached alice, bob's initial post is now confirmed
    await wait_copy(alice, bob.entity, b_rel.our_post_id)
    ra = await bob.client.get(bob.post_path(b_rel.our_post_id))
    assert (await ra.json())["post"]["type"] == "https://tent.io/types/relationship/v0#"


async def test_private_post_reaches_only_subscribers_it_is_shared_with(make_server) -> None:
    alice, bob, carol = await make_server(), await make_server(), await make_server()
    for follower in (bob, carol):
        sub = await subscribe(follower, alice)
        await wait_delivered(follower, sub["id"], alice.entity)
    secret = await alice.status("for bob only", permissions={"public": False, "entities": [bob.entity]})
    await wait_delivered(alice, secret["id"], bob.entity)
    assert [d["target"] for d in await deliveries(alice, secret["id"])] == [bob.entity]
    await wait_copy(bob, alice.entity, secret["id"])
    assert await stored_copy(carol, alice.entity, secret["id"]) is None


async def test_mentioned_entity_is_notified_without_a_subscription(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    post = await alice.status("hi @bob", mentions=[{"entity": bob.entity}])
    await wait_delivered(alice, post["id"], bob.entity)
    assert (await wait_copy(bob, alice.entity, post["id"]))["mentions"] == [{"entity": bob.entity}]


async def test_new_versions_and_deletes_propagate(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    sub = await subscribe(bob, alice)
    await wait_delivered(bob, sub["id"], alice.entity)
    post = await alice.status("v1")
    v2 = await alice.update(post, {"text": "v2"})
    await wait_copy(bob, alice.entity, post["id"], v2["version"]["id"])
    resp = await alice.client.delete(alice.post_path(post["id"]))
    record = (await resp.json())["post"]
    await wait_delivered(alice, record["id"], bob.entity)

    async def gone():
        return await stored_copy(bob, alice.entity, post["id"]) is None

    await eventually(gone)


async def test_unsigned_or_foreign_notifications_are_refused(make_server) -> None:
    alice = await make_server()
    body = {
        "id": "x1",
        "entity": "https://mallory.example",
        "type": STATUS,
        "content": {"text": "spoof"},
        "published_at": 1,
        "version": {"published_at": 1},
    }
    ct = {
        "Content-Type": f'application/vnd.tent.post.v0+json; type="{STATUS}"; rel="https://tent.io/rels/notification"'
    }
    resp = await alice.anon.put(alice.post_path("x1", "https://mallory.example"), json=body, headers=ct)
    assert resp.status == 403
    # signed by our own owner app is not a peer either
    resp = await alice.client.put(alice.post_path("x1", "https://mallory.example"), json=body, headers=ct)
    assert resp.status == 403
    assert await stored_copy(alice, "https://mallory.example", "x1") is None


async def test_app_asks_its_server_for_another_entitys_post(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    public = await alice.status("public")
    secret = await alice.status("secret", permissions={"public": False})
    resp = await bob.client.get(bob.post_path(public["id"], alice.entity))
    assert resp.status == 200 and (await resp.json())["post"]["content"] == {"text": "public"}
    resp = await bob.client.get(bob.post_path(secret["id"], alice.entity))
    assert resp.status == 404  # the origin's answer, passed through
    resp = await bob.client.get(
        bob.post_path(public["id"], alice.entity), headers={"Cache-Control": "no-proxy"}
    )
    assert resp.status == 404
    assert (await bob.anon.get(bob.post_path(public["id"], alice.entity))).status == 404


async def test_discover_endpoint_returns_the_meta_post_of_another_entity(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    resp = await bob.client.get("/discover?entity=" + alice.entity)
    assert resp.status == 200
    assert (await resp.json())["post"]["content"]["entity"] == alice.entity
    assert (await bob.anon.get("/discover?entity=" + alice.entity)).status == 403
    assert (await bob.client.get("/discover?entity=notaurl")).status == 400


async def test_meta_changes_reach_every_relationship(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    sub = await subscribe(bob, alice)
    await wait_delivered(bob, sub["id"], alice.entity)
    updated = await set_profile(alice, {"name": "Alice", "bio": "renamed"})
    meta_id = updated["id"]
    await wait_delivered(alice, meta_id, bob.entity)
    copy = await wait_copy(bob, alice.entity, meta_id, updated["version"]["id"])
    assert copy["content"]["profile"] == {"name": "Alice", "bio": "renamed"}
    from tent.handlers.common import FEDERATION_STORE

    rel = await bob.server.app[FEDERATION_STORE].relationship(alice.entity)
    assert rel.remote_meta["content"]["profile"]["name"] == "Alice"
