"""How the outbox keeps its sending slots busy: claimed rows go out as slots free, also while
the next claim query is still running, and claims come in large batches; and what one claim
query takes (on PostgreSQL).

In the scheduling tests the store and the sender stand in for PostgreSQL and the peers, so
that the test decides when a claim query answers; delivery itself is tested against real
servers in test_delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from tent.config import Settings
from tent.core.model import Post
from tent.core.retry import Outcome
from tent.delivery.outbox import Outbox
from tent.handlers.common import FEDERATION_STORE
from tent.services.publishing import Publisher
from tent.store.changes import Changes
from tent.store.db import Database, create_pool
from tent.store.federation import NOTIFY_CHANNEL, Delivery, FederationStore, Lease
from tent.store.posts import PostStore
from tests.fed_helpers import delivery_row, subscribe, wait_copy, wait_delivered


class ClaimsOnCue:
    """Answers the first claim at once with `first` rows; every later claim waits for `answer`."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.asked: list[int] = []
        self.answer = asyncio.Event()
        self.waiting = asyncio.Event()

    async def claim(self, now: int, lease_ms: int, limit: int, worker: int) -> list[Delivery]:
        self.asked.append(limit)
        if len(self.asked) == 1:
            return [delivery_row(n) for n in range(self.first)]
        self.waiting.set()
        await self.answer.wait()
        return []

    async def next_due(self) -> int | None:
        return None


class QuickPeers:
    """Answer within a few loop turns, each slot's send taking a different number of them."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def deliver(self, delivery: Delivery) -> Outcome:
        for _ in range(delivery.id % 4 + 1):
            await asyncio.sleep(0)
        self.sent.append(delivery.id)
        return Outcome(True)


class SlowPeers:
    """Answer only once released: every slot stays busy."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def deliver(self, delivery: Delivery) -> Outcome:
        await self.release.wait()
        return Outcome(True)


def _outbox(store: Any, peers: Any, concurrency: int) -> Outbox:
    outbox = Outbox(Settings(), store, None, peers, None, concurrency=concurrency)  # type: ignore[arg-type]
    outbox._listener = object()  # type: ignore[assignment]  # as if listening
    return outbox


async def test_freed_slots_take_claimed_rows_while_the_next_claim_runs() -> None:
    store, peers = ClaimsOnCue(first=8), QuickPeers()
    outbox = _outbox(store, peers, concurrency=4)
    run = asyncio.create_task(outbox._run())
    try:
        await asyncio.wait_for(store.waiting.wait(), 5)
        # Four slots, eight rows claimed: the next claim is out, and it must not hold back
        # the rows still queued behind the first four.
        for _ in range(100):
            if len(peers.sent) == 8:
                break
            await asyncio.sleep(0)
        assert sorted(peers.sent) == list(range(8))
        assert len(store.asked) == 2
    finally:
        outbox._stopping = True
        store.answer.set()
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_an_idle_outbox_claims_two_slot_fulls_then_eight_ahead() -> None:
    store, peers = ClaimsOnCue(first=16), SlowPeers()
    outbox = _outbox(store, peers, concurrency=8)
    run = asyncio.create_task(outbox._run())
    try:
        await asyncio.wait_for(store.waiting.wait(), 5)
        # Nothing was under way: two slot-fulls, so sending starts soon. Then, with eight
        # sending and eight queued, enough to fill eight slot-fulls.
        assert store.asked == [16, 56]
    finally:
        outbox._stopping = True
        store.answer.set()
        peers.release.set()
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


class ShortClaims:
    """Answers every claim with fewer rows than asked for, and counts the claims."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    async def claim(self, now: int, lease_ms: int, limit: int, worker: int) -> list[Delivery]:
        self.asked.append(limit)
        return [delivery_row(len(self.asked))] if len(self.asked) == 1 else []

    async def next_due(self) -> int | None:
        return None

    async def delivered(self, ids: list[int], now: int) -> None:
        pass


async def test_after_a_short_claim_successes_do_not_claim_again_until_something_changes() -> None:
    """A claim that came back short took everything claimable: the sends finishing do not
    make the outbox read every pending row again to find nothing (D-94)."""
    store, peers = ShortClaims(), QuickPeers()
    outbox = _outbox(store, peers, concurrency=8)
    run = asyncio.create_task(outbox._run())
    try:
        while not peers.sent:
            await asyncio.sleep(0)
        for _ in range(20):
            await asyncio.sleep(0)
        assert store.asked == [16]
        outbox.wake.set()  # a NOTIFY: new rows may be claimable
        while len(store.asked) < 2:
            await asyncio.sleep(0)
        assert store.asked == [16, 16]
    finally:
        outbox._stopping = True
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


@pytest.mark.parametrize("has_next", [True, False])
async def test_recording_a_success_wakes_the_claimer_only_if_it_frees_a_next_row(has_next: bool) -> None:
    store = ShortClaims()
    outbox = _outbox(store, QuickPeers(), concurrency=8)
    row = delivery_row(1)
    row.has_next = has_next
    await outbox._record(row, Outcome(True))
    await outbox._flush()
    assert outbox.wake.is_set() is has_next


# -- the claim query, on PostgreSQL ------------------------------------------------------


@pytest.fixture
async def dsn(new_database: Callable[[], Awaitable[str]]) -> str:
    return await new_database()


@asynccontextmanager
async def _federation_store(dsn: str) -> AsyncIterator[FederationStore]:
    """A store on its own pool: one per process the test stands for."""
    pool = await create_pool(dsn, 4)
    try:
        database = Database(pool)
        yield FederationStore(database, Changes(database))
    finally:
        await pool.close()


@pytest.fixture
async def federation_store(dsn: str) -> AsyncIterator[FederationStore]:
    async with _federation_store(dsn) as store:
        yield store


def _post(n: int) -> dict[str, Any]:
    return {"entity": "https://me.example", "id": f"post{n}", "version": {"id": f"v{n}"}}


async def _enqueue(store: FederationStore, post: int, targets: list[str]) -> None:
    await store.enqueue("entity", dict.fromkeys(targets, False), _post(post), now=1_000)


async def test_a_claim_takes_only_the_oldest_pending_row_of_each_recipient(
    federation_store: FederationStore,
) -> None:
    await _enqueue(federation_store, 1, ["https://a.example", "https://b.example"])
    await _enqueue(federation_store, 2, ["https://a.example", "https://c.example"])
    claimed = await federation_store.claim(2_000, 60_000, 10, worker=1)
    assert sorted((d.target, d.post_id) for d in claimed) == [
        ("https://a.example", "post1"),
        ("https://b.example", "post1"),
        ("https://c.example", "post2"),
    ]
    # a's second post waits until its first is no longer pending
    assert await federation_store.claim(2_000, 60_000, 10, worker=1) == []


async def test_a_claim_skips_rows_another_worker_is_claiming_and_still_fills_its_batch(
    federation_store: FederationStore,
) -> None:
    targets = [f"https://peer{n}.example" for n in range(6)]
    await _enqueue(federation_store, 1, targets)
    pool = federation_store.db.pool
    async with pool.acquire() as other, other.transaction():  # another process, mid-claim
        await other.execute("SELECT id FROM deliveries WHERE target = ANY($1) FOR UPDATE", targets[:2])
        claimed = await federation_store.claim(2_000, 60_000, 3, worker=1)
    assert sorted(d.target for d in claimed) == targets[2:5]


async def test_two_workers_claiming_at_once_never_take_the_same_row(dsn: str) -> None:
    targets = [f"https://peer{n}.example" for n in range(300)]
    taken: dict[int, list[int]] = {1: [], 2: []}

    async def drain(store: FederationStore, worker: int) -> None:
        for _ in range(200):  # an empty claim may only mean the other worker holds the heads
            if len(taken[1]) + len(taken[2]) >= len(targets):
                return
            taken[worker].extend(d.id for d in await store.claim(2_000, 60_000, 16, worker))
            await asyncio.sleep(0)

    async with _federation_store(dsn) as one, _federation_store(dsn) as two:
        await _enqueue(one, 1, targets)
        await asyncio.gather(*(drain(store, w) for store, w in ((one, 1), (two, 2)) for _ in range(3)))
    every = taken[1] + taken[2]
    assert len(every) == len(set(every)) == 300


async def test_a_claimed_row_says_whether_its_recipient_has_another_waiting(
    federation_store: FederationStore,
) -> None:
    await _enqueue(federation_store, 1, ["https://a.example", "https://b.example"])
    await _enqueue(federation_store, 2, ["https://a.example"])
    claimed = await federation_store.claim(2_000, 60_000, 10, worker=1)
    assert sorted((d.target, d.has_next) for d in claimed) == [
        ("https://a.example", True),
        ("https://b.example", False),
    ]


async def test_rows_queued_behind_a_head_waiting_for_its_retry_are_not_due_before_it(
    federation_store: FederationStore,
) -> None:
    """A peer that is down, with two more posts queued behind the one being retried: the
    outbox is next due when that retry is, not at once over and over (D-95)."""
    await _enqueue(federation_store, 1, ["https://down.example", "https://up.example"])
    await _enqueue(federation_store, 2, ["https://down.example"])
    await _enqueue(federation_store, 3, ["https://down.example"])
    claimed = await federation_store.claim(2_000, 60_000, 10, worker=1)
    up, down = sorted(claimed, key=lambda d: d.target != "https://up.example")
    await federation_store.delivered([up.id], 2_100)
    await federation_store.retry_later(down.id, 90_000, "unreachable: refused", False)
    assert await federation_store.next_due() == 90_000


# -- rows written leased to the process that stores the post (D-96) ------------------------


async def _leased(store: FederationStore, post: int, targets: list[str], limit: int = 100) -> list[Delivery]:
    async with store.db.transaction():
        lease = Lease(worker=7, until=61_000, limit=limit)
        return await store.enqueue("entity", dict.fromkeys(targets, False), _post(post), 1_000, lease)


async def test_rows_written_with_a_lease_come_back_as_a_claim_leaves_them_and_no_claim_takes_them(
    federation_store: FederationStore,
) -> None:
    targets = ["https://a.example", "https://b.example"]
    leased = await _leased(federation_store, 1, targets)
    assert sorted(d.target for d in leased) == targets
    assert {(d.state, d.attempts, d.next_attempt_at, d.has_next) for d in leased} == {
        ("pending", 1, 61_000, False)
    }
    rows = await federation_store.db.pool.fetch("SELECT claimed_by, claimed_at FROM deliveries")
    assert {(r["claimed_by"], r["claimed_at"]) for r in rows} == {(7, 1_000)}
    assert await federation_store.claim(2_000, 60_000, 10, worker=1) == []


async def test_a_lease_skips_a_recipient_whose_older_row_is_still_pending(
    federation_store: FederationStore,
) -> None:
    """Per-recipient FIFO holds for rows written leased: the second post to a waits behind
    the first, for a claim, like any row that is not its recipient's head."""
    await _enqueue(federation_store, 1, ["https://a.example"])
    leased = await _leased(federation_store, 2, ["https://a.example", "https://b.example"])
    assert [(d.target, d.post_id) for d in leased] == [("https://b.example", "post2")]
    claimed = await federation_store.claim(2_000, 60_000, 10, worker=1)
    assert [(d.target, d.post_id) for d in claimed] == [("https://a.example", "post1")]


async def test_a_lease_takes_no_more_rows_than_its_limit_and_the_rest_are_claimable(
    federation_store: FederationStore,
) -> None:
    targets = [f"https://peer{n}.example" for n in range(5)]
    leased = await _leased(federation_store, 1, targets, limit=2)
    claimed = await federation_store.claim(2_000, 60_000, 10, worker=1)
    assert len(leased) == 2 and len(claimed) == 3
    assert sorted(d.target for d in leased + claimed) == targets


async def test_no_notify_when_every_row_is_leased(dsn: str, federation_store: FederationStore) -> None:
    """No other worker could claim a leased row: waking them would only make each read the
    queue for nothing. Notifications arrive in commit order, so the one of the unleased post
    that follows proves the leased post sent none."""
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(dsn)
    try:
        await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[3]))
        await _leased(federation_store, 1, ["https://a.example"])
        await _enqueue(federation_store, 2, ["https://b.example"])
        await asyncio.wait_for(heard.get(), 5)
        await listener.execute("SELECT 1")  # anything still on its way has arrived
        assert heard.empty()
        # b's row waits behind post 2's: not leased, so a claim must hear of it
        await _leased(federation_store, 3, ["https://b.example", "https://c.example"])
        await asyncio.wait_for(heard.get(), 5)
    finally:
        await listener.close()


class TakesRows:
    """The outbox's side of a lease: what it was handed, and when."""

    def __init__(self) -> None:
        self.taken: list[Delivery] = []
        self.settled: list[int] = []

    def lease(self, now: int, wanted: int) -> Lease | None:
        return Lease(worker=7, until=now + 60_000, limit=min(wanted, 3))

    def take(self, lease: Lease, rows: list[Delivery]) -> None:
        self.settled.append(lease.limit)
        self.taken.extend(rows)


async def test_leased_rows_reach_the_outbox_only_once_their_unit_commits_and_a_rollback_frees_the_room(
    federation_store: FederationStore,
) -> None:
    db = federation_store.db
    publisher = Publisher(Settings(), PostStore(db, federation_store.changes), federation_store)
    sender = publisher.sender = TakesRows()
    post = Post(_post(1))
    entities = dict.fromkeys(["https://a.example", "https://b.example"], False)
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await publisher.enqueue(post, entities, {"https://hook.example/": False})
            raise RuntimeError("the unit fails")
    assert sender.taken == [] and await db.pool.fetchval("SELECT count(*) FROM deliveries") == 0
    assert sender.settled == [3]  # the room promised to the failed unit is free again
    async with db.transaction():
        await publisher.enqueue(post, entities, {"https://hook.example/": False})
        assert sender.taken == []
    assert sender.settled == [3, 3]
    # the entity rows and the webhook share one lease of three
    assert sorted((d.kind, d.target) for d in sender.taken) == [
        ("app", "https://hook.example/"),
        ("entity", "https://a.example"),
        ("entity", "https://b.example"),
    ]


async def test_the_process_that_stores_a_post_sends_it_without_a_claim(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    sub = await subscribe(bob, alice)
    await wait_delivered(bob, sub["id"], alice.entity)
    store = alice.server.app[FEDERATION_STORE]
    claimed: list[int] = []
    claim = store.claim

    async def recording_claim(*args: Any) -> list[Delivery]:
        rows = await claim(*args)
        claimed.extend(d.id for d in rows)
        return rows

    store.claim = recording_claim  # type: ignore[method-assign]
    post = await alice.status("straight out")
    row = await wait_delivered(alice, post["id"], bob.entity)
    assert row["attempts"] == 1 and row["id"] not in claimed
    assert await wait_copy(bob, alice.entity, post["id"])


async def test_units_written_at_once_share_the_room_of_the_queue_between_their_leases() -> None:
    """Two posts stored at the same time must not both be promised the whole queue: rows
    leased and still queued when their lease runs out would be claimed and sent again."""
    outbox = _outbox(ShortClaims(), SlowPeers(), concurrency=4)
    small = outbox.lease(1_000, wanted=2)
    first = outbox.lease(1_000, wanted=1_000)
    assert small is not None and small.limit == 2  # a post to two recipients takes room for two
    assert first is not None and first.limit == 30  # eight slot-fulls of four, less those two
    assert outbox.lease(1_000, wanted=1_000) is None
    outbox.take(first, [])  # rolled back
    second = outbox.lease(1_000, wanted=1_000)
    assert second is not None and second.limit == 30
