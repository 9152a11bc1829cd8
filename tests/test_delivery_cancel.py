"""Deliveries that no longer matter are cancelled at once, not retried for a week (D-70): when the
recipient unsubscribes, or when the relationship with it is removed."""

from __future__ import annotations

import dataclasses
import socket

from tent.core.dispatch import still_wanted
from tent.core.posts import now_ms
from tent.handlers.common import FEDERATION_STORE
from tests.conftest import STATUS, Tent
from tests.fed_helpers import deliveries, eventually, subscribe, wait_delivered


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _peers_with_a_broken_route(make_server) -> tuple[Tent, Tent, dict]:
    """Bob follows Alice; then Alice's route to Bob's server breaks (his notifications to
    her still arrive), so her deliveries to him stay pending, retried only much later."""
    alice, bob = await make_server(delivery_retry_base=600), await make_server()
    sub = await subscribe(bob, alice)
    await wait_delivered(bob, sub["id"], alice.entity)
    store = alice.server.app[FEDERATION_STORE]
    rel = await store.relationship(bob.entity)
    assert rel is not None and rel.remote_meta is not None
    dead = f"http://127.0.0.1:{_closed_port()}"
    meta = dict(rel.remote_meta)
    meta["content"] = {
        **meta["content"],
        "servers": [
            {**s, "urls": {**s["urls"], "post": dead + "/posts/{entity}/{post}"}}
            for s in meta["content"]["servers"]
        ],
    }
    await store.save_relationship(dataclasses.replace(rel, remote_meta=meta), now_ms())
    return alice, bob, sub


async def _state(tent: Tent, post_id: str, target: str) -> dict:
    return next(d for d in await deliveries(tent, post_id) if d["target"] == target)


async def _attempted(tent: Tent, post_id: str, target: str) -> dict:
    async def check():
        d = await _state(tent, post_id, target)
        return d if d["attempts"] >= 1 and d["state"] == "pending" else None

    return await eventually(check)


def test_only_mentions_subscriptions_deletes_and_meta_keep_a_delivery_wanted() -> None:
    assert still_wanted(STATUS, False, ["https://tent.io/types/status/v0"])
    assert not still_wanted(STATUS, False, ["https://tent.io/types/essay/v0"])
    assert still_wanted(STATUS, True, [])
    assert still_wanted("https://tent.io/types/delete/v0#", False, [])
    assert still_wanted("https://tent.io/types/meta/v0#", False, [])


async def test_unsubscribing_cancels_the_pending_deliveries_it_alone_asked_for(make_server) -> None:
    alice, bob, sub = await _peers_with_a_broken_route(make_server)
    followed = await alice.status("for my followers")
    mentioned = await alice.status("hi bob", mentions=[{"entity": bob.entity}])
    await _attempted(alice, followed["id"], bob.entity)  # the later one waits behind it (order)
    assert (await _state(alice, mentioned["id"], bob.entity))["state"] == "pending"

    resp = await bob.client.delete(bob.post_path(sub["id"]))  # Bob unfollows Alice
    assert resp.status == 200, await resp.text()

    async def cancelled():
        d = await _state(alice, followed["id"], bob.entity)
        return d if d["state"] == "cancelled" else None

    d = await eventually(cancelled)
    assert d["last_error"] == "cancelled: the recipient unsubscribed"
    assert (await _state(alice, mentioned["id"], bob.entity))["state"] == "pending"  # still wanted


async def test_removing_the_relationship_cancels_everything_pending_but_deletes(make_server) -> None:
    alice, bob, _ = await _peers_with_a_broken_route(make_server)
    pending = await alice.status("hi bob", mentions=[{"entity": bob.entity}])
    await _attempted(alice, pending["id"], bob.entity)
    rel = await alice.server.app[FEDERATION_STORE].relationship(bob.entity)
    assert rel is not None and rel.our_post_id

    resp = await alice.client.delete(alice.post_path(rel.our_post_id))
    assert resp.status == 200, await resp.text()
    record = (await resp.json())["post"]

    d = await _state(alice, pending["id"], bob.entity)
    assert d["state"] == "cancelled" and d["last_error"] == "cancelled: the relationship was removed"
    # the delete itself still goes to Bob: never cancelled (whether its first attempt has
    # already ended, and how, depends on timing)
    assert (await _state(alice, record["id"], bob.entity))["state"] != "cancelled"
