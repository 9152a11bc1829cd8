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

import pytest

from tent.config import Settings
from tent.core.retry import Outcome
from tent.delivery.outbox import Outbox
from tent.store.changes import Changes
from tent.store.db import Database, create_pool
from tent.store.federation import Delivery, FederationStore
from tests.fed_helpers import delivery_row


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
