"""The outbox: retries with backoff, give-up, delivery-failure posts, app webhooks that come
back from maintenance, Retry-After, permanent 4xx, the owner's view and manual retry."""

from __future__ import annotations

import asyncio
import random
import socket
from urllib.parse import parse_qs, urlsplit

from tent.auth import hawk
from tent.core.dispatch import recipients, wants_webhook
from tent.core.retry import MAX_DELAY, classify_status, gives_up, next_delay, parse_retry_after
from tent.handlers.common import FEDERATION_STORE
from tests.app_helpers import app_body, register
from tests.conftest import STATUS, Tent
from tests.fed_helpers import deliveries, eventually, start_hook

FAILURE = "https://tent.io/types/delivery-failure/v0#https://tent.io/types/status/v0"


# -- the policy, as pure functions -------------------------------------------------------


def test_delay_doubles_from_the_base_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for attempt, nominal in ((1, 15), (2, 30), (3, 60), (6, 480)):
        for _ in range(50):
            assert 0.8 * nominal <= next_delay(attempt, 15, rng=rng) <= 1.4 * nominal
    assert next_delay(40, 15, rng=rng) <= MAX_DELAY == 6 * 3600


def test_retry_after_wins_when_longer() -> None:
    assert next_delay(1, 1, retry_after=120, rng=random.Random(0)) == 120
    assert parse_retry_after("30", 0) == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470) == 10
    assert parse_retry_after("soon", 0) is None


def test_give_up_after_the_horizon() -> None:
    assert not gives_up(0, 1000, 7 * 24 * 3600, 60)
    assert gives_up(0, 7 * 24 * 3600 * 1000, 7 * 24 * 3600, 1)


def test_status_classes() -> None:
    assert classify_status(200).ok and classify_status(204).ok
    assert classify_status(503).reason == "unreachable" and not classify_status(503).permanent
    assert classify_status(500).reason == "delivery_failed" and not classify_status(500).permanent
    assert classify_status(404).permanent and classify_status(400).permanent
    for status in (401, 408, 429):
        assert not classify_status(status).permanent


def test_recipients_are_readers_that_are_mentioned_or_subscribed() -> None:
    own = "https://me.example"
    post = {
        "entity": own,
        "type": STATUS,
        "mentions": [{"entity": "https://m.example"}, {"entity": own}],
        "permissions": {
            "public": False,
            "entities": ["https://s1.example", "https://m.example"],
            "groups": [{"post": "friends"}],
        },
    }
    subs = {
        "https://s1.example": ["https://tent.io/types/status/v0"],
        "https://s2.example": ["all"],
        "https://s3.example": ["https://tent.io/types/essay/v0"],
        "https://g.example": ["all"],
    }
    got = recipients(post, own, subs, {"friends": ["https://g.example"]})
    assert got == {"https://m.example": True, "https://s1.example": False, "https://g.example": False}
    public = {**post, "permissions": None}
    assert set(recipients(public, own, subs, {})) == {
        "https://m.example",
        "https://s1.example",
        "https://s2.example",
        "https://g.example",
    }


def test_webhooks_need_matching_notification_and_read_types() -> None:
    app = {"content": {"notification_url": "https://a.example/hook", "notification_types": [STATUS]}}
    grant = {"content": {"types": {"read": ["https://tent.io/types/status/v0"], "write": []}}}
    assert wants_webhook(app, grant, STATUS)
    assert not wants_webhook(app, grant, "https://tent.io/types/status/v0#reply")
    assert not wants_webhook(app, None, STATUS)
    assert not wants_webhook(app, {"content": {"types": {"read": [], "write": []}}}, STATUS)


# -- against live servers ----------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_peer_that_is_down_gets_retries_then_a_permanent_failure_post(make_server) -> None:
    alice = await make_server(delivery_give_up_after=1.0)
    down = f"http://127.0.0.1:{closed_port()}"
    post = await alice.status("are you there?", mentions=[{"entity": down}])

    async def failed():
        rows = await deliveries(alice, post["id"])
        return rows if rows and rows[0]["state"] == "failed" else None

    rows = await eventually(failed)
    assert rows[0]["attempts"] >= 2
    assert rows[0]["last_error"].startswith("unreachable")
    feed = await alice.feed(f"?types={FAILURE}")
    statuses = sorted(p["content"]["status"] for p in feed["posts"])
    assert statuses == ["permanent", "temporary"]
    failure = feed["posts"][0]
    assert failure["content"]["entity"] == down and failure["content"]["reason"] == "unreachable"
    ref = {"post": post["id"], "version": post["version"]["id"], "type": STATUS}
    assert failure["refs"] == [ref] and failure["mentions"] == [ref]
    assert failure["permissions"] == {"public": False}


async def test_subscriber_that_is_not_mentioned_gets_no_failure_post(make_server) -> None:
    alice = await make_server(delivery_give_up_after=0.5)
    down = f"http://127.0.0.1:{closed_port()}"

    await alice.server.app[FEDERATION_STORE].save_relationship(
        __import__("tent.store.federation", fromlist=["Relationship"]).Relationship(
            down,
            None,
            None,
            {"id": "x", "hawk_key": "k"},
            {
                "content": {
                    "entity": down,
                    "servers": [{"preference": 0, "urls": {"post": down + "/posts/{entity}/{post}"}}],
                }
            },
            True,
        ),
        0,
    )
    await alice.server.app[FEDERATION_STORE].add_subscription(down, "all", "sub1")
    post = await alice.status("to a silent subscriber")

    async def failed():
        rows = await deliveries(alice, post["id"])
        return rows and rows[0]["state"] == "failed"

    await eventually(failed)
    assert (await alice.feed(f"?types={FAILURE}"))["posts"] == []


async def authorized_app_with_hook(tent: Tent, url: str) -> tuple[dict, dict]:
    app, creds = await register(
        tent,
        app_body(
            ["https://tent.io/types/status/v0"],
            [],
            notification_url=url,
            notification_types=["https://tent.io/types/status/v0"],
        ),
    )
    resp = await tent.anon.get(f"/oauth/authorize?client_id={app['id']}")
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["code"]
    return app, creds


async def test_app_in_maintenance_gets_its_notifications_later_in_order_once(
    make_server, aiohttp_server
) -> None:
    alice = await make_server()
    hook, url = await start_hook(aiohttp_server)
    _, creds = await authorized_app_with_hook(alice, url)
    first = await alice.status("first")
    second = await alice.status("second")
    await eventually(lambda: asyncio.sleep(0, hook.attempts >= 2))
    assert hook.received == []
    hook.status = 200

    async def both():
        return len(hook.received) >= 2

    await eventually(both)
    await asyncio.sleep(0.3)  # nothing more may arrive
    assert [p["id"] for p in hook.received] == [first["id"], second["id"]]
    assert hook.received[0]["content"] == {"text": "first"}
    # signed with the app's credentials
    header = hook.auth[0]
    attrs = hawk.parse_authorization(header)
    assert attrs.id == creds["id"]


async def test_retry_after_is_honoured_and_a_404_is_not_retried(make_server, aiohttp_server) -> None:
    alice = await make_server()
    hook, url = await start_hook(aiohttp_server)
    hook.retry_after = "3"
    await authorized_app_with_hook(alice, url)
    post = await alice.status("later please")

    async def retried():
        rows = [d for d in await deliveries(alice, post["id"]) if d["kind"] == "app"]
        return rows if rows and rows[0]["attempts"] >= 1 and rows[0]["last_error"] else None

    rows = await eventually(retried)
    assert rows[0]["next_attempt_at"] - rows[0]["created_at"] >= 2900
    hook.status, hook.retry_after = 404, None
    resp = await alice.client.post(f"/deliveries/{rows[0]['id']}/retry")
    assert resp.status == 200

    async def failed():
        got = [d for d in await deliveries(alice, post["id"]) if d["kind"] == "app"]
        return got if got[0]["state"] == "failed" else None

    got = await eventually(failed)
    assert got[0]["last_error"].startswith("delivery_failed: HTTP 404")


async def test_owner_sees_pending_deliveries_and_anonymous_does_not(make_server) -> None:
    alice = await make_server(delivery_retry_base=30)
    down = f"http://127.0.0.1:{closed_port()}"
    post = await alice.status("pending", mentions=[{"entity": down}])

    async def pending():
        rows = await deliveries(alice, post["id"])
        return rows if rows and rows[0]["last_error"] else None

    rows = await eventually(pending)
    assert rows[0]["state"] == "pending" and rows[0]["target"] == down
    assert rows[0]["next_attempt_at"] > rows[0]["created_at"]
    assert (await alice.anon.get(f"/deliveries?post={post['id']}")).status == 401
    assert (await alice.client.post("/deliveries/999999/retry")).status == 404
