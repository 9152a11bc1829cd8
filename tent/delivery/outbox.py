"""The outbox worker: asyncio tasks in the serving process that drain `deliveries`.

Woken by LISTEN/NOTIFY (no polling delay) and by a timer for the next retry; claims rows
with FOR UPDATE SKIP LOCKED (so several processes share the work), sends, and records the
outcome with the retry policy of `tent.core.retry`. Nothing lives only in memory: a crash
or `kill -9` leaves leased rows that are claimed again when their lease runs out.

A database outage does not end the worker: it keeps trying every `RECONNECT_DELAY` seconds
and listens again once the database answers; stopping never waits on a database that is gone
for longer than `STOP_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any

import asyncpg

from tent.config import Settings
from tent.core.posts import build_new_post, now_ms
from tent.core.retry import Outcome, gives_up, next_delay
from tent.core.type_uris import DELIVERY_FAILURE_TYPE
from tent.core.types import base_version
from tent.delivery.federation import Federation
from tent.services.publishing import Publisher
from tent.store import db
from tent.store.db import UNAVAILABLE
from tent.store.federation import NOTIFY_CHANNEL, Delivery, FederationStore, Lease
from tent.store.posts import PostStore

log = logging.getLogger(__name__)

LEASE_MS = 60_000
IDLE_WAIT = 30.0
RECONNECT_DELAY = 1.0
STOP_TIMEOUT = 5.0
# A claim reads every pending row however many it takes (D-88), so while sends are under way
# it asks for many slot-fulls at once: at 5,000 peers, claims of ~140 rows took ~40 claims and
# most of PostgreSQL's CPU in a fan-out (D-91). Leases run for a minute, far longer than
# sending this many takes. With nothing under way it asks for two, so the first sends start
# without waiting for a large batch.
CLAIM_SLOT_FULLS = 8
FIRST_CLAIM_SLOT_FULLS = 2
GAVE_UP = "gave_up: the owner gave up on this delivery"  # tent.core.reasons reads the code


def failure_post(
    failed: dict[str, Any], recipient: str, status: str, reason: str, *, entity: str, now: int
) -> dict[str, Any]:
    """§7.9 with D-46: refs and mentions the failed post; private (the owner's apps see it)."""
    ref = {
        "entity": failed["entity"],
        "post": failed["id"],
        "version": failed["version"]["id"],
        "type": failed["type"],
    }
    return build_new_post(
        {
            "type": DELIVERY_FAILURE_TYPE + (base_version(failed["type"]) or ""),
            "content": {"entity": recipient, "status": status, "reason": reason},
            "refs": [ref],
            "mentions": [ref],
            "permissions": {"public": False},
        },
        entity=entity,
        now=now,
    )


class Outbox:
    def __init__(
        self,
        settings: Settings,
        store: FederationStore,
        posts: PostStore,
        federation: Federation,
        publisher: Publisher,
        concurrency: int = 64,
        on_attempt: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.posts = posts
        self.federation = federation
        self.publisher = publisher
        self.concurrency = concurrency
        self.on_attempt = on_attempt  # told each attempt's outcome: "delivered" or its §7.9 reason
        self.wake = asyncio.Event()
        self.inflight: set[asyncio.Task[None]] = set()
        self.queue: deque[Delivery] = deque()  # claimed (leased) rows waiting for a slot
        self._promised = 0  # room in `queue` leased to units still being written (`lease`)
        self.running_low = asyncio.Event()  # set when the queue holds a slot-full or fewer
        self.rng = random.Random()
        self.worker = self.rng.randint(1, 2**31 - 1)  # names this worker's leases
        self._task: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._delivered: list[int] = []  # recorded in batches: one UPDATE for many sends
        # The next recorded success may free a row: one in `_delivered` had another of its
        # recipient's behind it, or a NOTIFY came (new rows may wait behind a head in flight).
        self._unblocks = False
        self._to_flush = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._lost_listener: asyncpg.Connection | None = None
        self._stopping = False

    async def start(self) -> None:
        await self._listen()
        released = await self.store.release_leases(now_ms())
        if released:
            log.info(
                "outbox: %d deliveries were in flight when their worker stopped; sending again", released
            )
        self._task = asyncio.create_task(self._run(), name="tent-outbox")
        self.publisher.sender = self
        self._flusher = asyncio.create_task(self._flush_loop(), name="tent-outbox-flush")

    @property
    def alive(self) -> bool:
        """Running and listening for new deliveries (what readiness asks)."""
        return self._task is not None and not self._task.done() and self._listener is not None

    async def _listen(self) -> None:
        # This worker's leases are its own while this connection lives: a process starting
        # beside us leaves them alone (release_leases), and reclaims them once we are gone.
        # Registered before releasing, so two processes starting together spare each other.
        self._listener = await db.listening_connection(
            self.posts.db.pool,
            NOTIFY_CHANNEL,
            self._notified,
            self._lost,
            setup=lambda conn: self.store.register_worker(conn, self.worker),
        )

    def _lost(self, conn: object) -> None:
        """The listening connection died (the database restarted or went away): `_run` takes
        a new one once the database answers again."""
        if conn is self._listener:
            self._lost_listener, self._listener = self._listener, None
            self.wake.set()

    async def _release_lost(self) -> None:
        """A dead connection still counts as taken until it goes back to the pool (and a pool
        close waits for every taken connection)."""
        lost, self._lost_listener = self._lost_listener, None
        if lost is not None:
            await self.posts.db.pool.release(lost, discard=True)

    async def _reconnect(self) -> None:
        await self._release_lost()
        try:
            await self._listen()
        except UNAVAILABLE as exc:
            log.warning("outbox: cannot reach the database (%s); trying again", exc)
            await asyncio.sleep(RECONNECT_DELAY)
            return
        log.info("outbox: the database answers again; deliveries resume")

    def _notified(self, *_: object) -> None:
        # New rows may wait behind a head being sent now, which its claim did not know of:
        # the next recorded success wakes the claimer too (D-94).
        self._unblocks = True
        self.wake.set()

    def lease(self, now: int, wanted: int) -> Lease | None:
        """How many of the `wanted` rows of a post being stored this worker takes as they are
        written: at most as many as a claim would ask for now, less what other units being
        written were promised, and none while it cannot send (D-96)."""
        room = min(wanted, CLAIM_SLOT_FULLS * self.concurrency - len(self.queue) - self._promised)
        if self._stopping or self._listener is None or room <= 0:
            return None
        self._promised += room
        return Lease(self.worker, now + LEASE_MS, room)

    def take(self, lease: Lease, rows: list[Delivery]) -> None:
        """Settles a lease: the rows written under it, now committed, are sent like claimed
        ones (none if their unit rolled back)."""
        self._promised -= lease.limit
        self.queue.extend(rows)
        if not self._stopping:
            self._start_queued()

    async def stop(self) -> None:
        self._stopping = True
        if self.publisher.sender is self:
            self.publisher.sender = None
        try:
            async with asyncio.timeout(STOP_TIMEOUT + 10):  # the sends get 10 s, the database the rest
                await self._stop()
        except TimeoutError:
            log.warning("outbox: the database did not answer while stopping; unrecorded sends go again")

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.inflight:
            await asyncio.wait(self.inflight, timeout=10)
            for task in self.inflight:
                task.cancel()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        try:
            await self._flush()
        except UNAVAILABLE as exc:
            unrecorded = len(self._delivered)
            log.warning("outbox: %d sent deliveries not recorded (%s); they go again", unrecorded, exc)
        await self._release_lost()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.remove_termination_listener(self._lost)
            with contextlib.suppress(Exception):
                await listener.remove_listener(NOTIFY_CHANNEL, self._notified)
                await self.store.unregister_worker(listener, self.worker)
            await self.posts.db.pool.release(listener, discard=True)  # it LISTENs: never reused

    async def _run(self) -> None:
        while not self._stopping:
            if self._listener is None:
                await self._reconnect()
                continue
            # Cleared before claiming, so a NOTIFY that arrives while we claim or compute
            # the next due time still wakes the wait below.
            self.wake.clear()
            try:
                if await self._claim():
                    continue
                await self._wait()
            except UNAVAILABLE as exc:
                log.warning("outbox: cannot claim deliveries: %s", exc)
                await asyncio.sleep(RECONNECT_DELAY)
            except Exception:  # a bug must not end deliveries for the life of the process
                log.exception("outbox: claiming failed")
                await asyncio.sleep(RECONNECT_DELAY)

    def _start_queued(self) -> None:
        while self.queue and len(self.inflight) < self.concurrency:
            task = asyncio.create_task(self._send(self.queue.popleft()))
            self.inflight.add(task)
            task.add_done_callback(self._sent)
        if len(self.queue) <= 2 * self.concurrency:
            self.running_low.set()

    def _sent(self, task: asyncio.Task[None]) -> None:
        """A slot freed: the next claimed row goes out at once, even while `_run` waits for a
        claim query (slots stood idle for the length of each claim when only `_run` refilled
        them)."""
        self.inflight.discard(task)
        if not self._stopping:
            self._start_queued()

    async def _claim(self) -> int:
        """Keep every sending slot busy from a local queue of claimed rows, topped up with one
        claim query for many rows while a slot-full of them is still waiting: each claim reads
        every pending row once however many it takes, so few large claims cost the database
        least, and the rows still queued keep the slots busy while it runs."""
        self._start_queued()
        if len(self.queue) <= 2 * self.concurrency:
            busy = self.queue or self.inflight
            want = (CLAIM_SLOT_FULLS if busy else FIRST_CLAIM_SLOT_FULLS) * self.concurrency - len(self.queue)
            batch = await self.store.claim(now_ms(), LEASE_MS, want, self.worker)
            self.queue.extend(batch)
            self._start_queued()
            if len(batch) < want:
                # Everything claimable is claimed: claiming again before something changes (a
                # NOTIFY, an outcome that frees a recipient's next row, a due retry) would
                # read every pending row to find nothing (D-94).
                return 0
            return len(batch)
        if self.queue:  # claimed enough for now: go on once the sends have taken most of it
            self.running_low.clear()
            await self.running_low.wait()
            return 1
        return 0

    async def _flush_loop(self) -> None:
        while True:
            await self._to_flush.wait()
            self._to_flush.clear()
            try:
                await self._flush()
            except UNAVAILABLE as exc:
                log.warning("outbox: cannot record deliveries: %s", exc)
                await asyncio.sleep(RECONNECT_DELAY)
                self._to_flush.set()

    async def _flush(self) -> None:
        """Mark delivered rows. If the process dies first they are sent again (at-least-once);
        until then a recipient's next row waits, so its order holds."""
        if not self._delivered:
            return
        batch, self._delivered = self._delivered, []
        unblocks, self._unblocks = self._unblocks, False
        try:
            await self.store.delivered(batch, now_ms())
        except BaseException:
            self._delivered[:0] = batch
            self._unblocks = self._unblocks or unblocks
            raise
        if unblocks or self._unblocks:  # a recipient's next row may be its head now: claimable
            self.wake.set()

    async def _wait(self) -> None:
        due = await self.store.next_due()
        timeout = IDLE_WAIT if due is None else max(min((due - now_ms()) / 1000, IDLE_WAIT), 0.01)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout)

    async def _send(self, delivery: Delivery) -> None:
        try:
            outcome = await self.federation.deliver(delivery)
        except Exception as exc:  # a bug or an unexpected reply must not kill the worker
            log.exception("delivery %d to %s crashed", delivery.id, delivery.target)
            outcome = Outcome(
                False, "unreachable", detail=f"internal error ({type(exc).__name__}), see the log"
            )
        try:
            await self._record(delivery, outcome)
        except UNAVAILABLE as exc:
            log.warning("outbox: outcome of delivery %d not recorded (%s); tried again", delivery.id, exc)
        except Exception:
            log.exception("cannot record the outcome of delivery %d", delivery.id)
        if not outcome.ok:  # a new retry time or a failed head: the next claim may differ
            self.wake.set()  # (a success wakes the claimer once it is recorded: `_flush`)

    async def _record(self, d: Delivery, outcome: Outcome) -> None:
        now = now_ms()
        if self.on_attempt is not None:
            self.on_attempt("delivered" if outcome.ok else outcome.reason or "delivery_failed")
        if outcome.ok:
            self._delivered.append(d.id)
            self._unblocks = self._unblocks or d.has_next
            self._to_flush.set()
            log.debug("delivered %s/%s to %s %s", d.post_entity, d.post_id, d.kind, d.target)
            return
        error = f"{outcome.reason}: {outcome.detail}"
        delay = next_delay(
            d.attempts, self.settings.delivery_retry_base, retry_after=outcome.retry_after, rng=self.rng
        )
        # The failure post is written before the row changes state, so whoever sees the
        # state also finds the post (a crash in between repeats the post, never loses it).
        if outcome.permanent or gives_up(d.created_at, now, self.settings.delivery_give_up_after, delay):
            await self._report(d, "permanent", outcome.reason or "delivery_failed")
            await self.store.failed(d.id, error)
            log.warning(
                "delivery of %s/%s to %s %s failed for good after %d attempts: %s",
                d.post_entity,
                d.post_id,
                d.kind,
                d.target,
                d.attempts,
                error,
            )
            return
        first_report = d.mentioned and d.kind == "entity" and not d.reported
        if first_report:
            await self._report(d, "temporary", outcome.reason or "delivery_failed")
        await self.store.retry_later(d.id, now + int(delay * 1000), error, first_report)
        log.info(
            "delivery of %s/%s to %s %s failed (attempt %d): %s; next try in %.1f s",
            d.post_entity,
            d.post_id,
            d.kind,
            d.target,
            d.attempts,
            error,
            delay,
        )

    async def give_up(self, delivery_id: int) -> Delivery | None:
        """The owner stops a pending delivery: it fails for good, and is reported like one the
        worker gave up on (a delivery-failure post when the recipient was mentioned)."""
        d = await self.store.give_up(delivery_id, GAVE_UP)
        if d is not None:
            await self._report(d, "permanent", "delivery_failed")
        return d

    async def _report(self, d: Delivery, status: str, reason: str) -> None:
        """A delivery-failure post, for recipients the failed post mentions (§7.9, D-45)."""
        if not d.mentioned or d.kind != "entity":
            return
        failed = await self.posts.get(d.post_entity, d.post_id, d.version_id)
        if failed is None or failed["type"].startswith(DELIVERY_FAILURE_TYPE):
            return
        await self.publisher.publish(
            failure_post(failed, d.target, status, reason, entity=self.settings.entity, now=now_ms())
        )
