"""Cache invalidation that every process on the database agrees on (D-78).

A few lookups are cached in memory because every request needs them (credentials, the
subscribers and webhook apps a new post is checked against, relationships, rendered bodies of
posts being delivered). Their source rows change rarely: app, grant, credentials,
relationship, subscription and group-member posts, the relationship and subscription rows,
and deletes. Each such write `announce`s a typed `Change` inside its unit of work, which
- sends `NOTIFY tent_changes` in that transaction, so other processes hear it only once it
  is committed (and never, if it rolls back);
- drops this process's caches through `Database.on_commit`, after the commit.

A lookup that read the old row before the commit is then dropped with the rest; one that
started before the drop and finishes after it sees a new `generation` and keeps nothing.
So no lookup can re-cache a row a committed write replaced, here or in another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from enum import StrEnum

import asyncpg

from tent.core.type_uris import (
    APP_AUTH_BASE,
    APP_BASE,
    CREDENTIALS_BASE,
    GROUP_MEMBER_BASE,
    RELATIONSHIP_BASE,
    SUBSCRIPTION_BASE,
)
from tent.core.types import parse_type
from tent.store import db
from tent.store.db import UNAVAILABLE, Database

log = logging.getLogger(__name__)

CHANNEL = "tent_changes"


class Change(StrEnum):
    """What kind of row changed: caches subscribe to the kinds they are built from."""

    APP = "app"
    GRANT = "grant"
    CREDENTIALS = "credentials"
    RELATIONSHIP = "relationship"
    SUBSCRIPTION = "subscription"
    GROUP = "group"
    DELETE = "delete"


# Post types whose posts feed a cache, by the change they are; deletes of any type count too.
_TYPE_CHANGES = tuple(
    (f"{t.base}/", change)  # any version of the type
    for t, change in (
        (parse_type(APP_BASE), Change.APP),
        (parse_type(APP_AUTH_BASE), Change.GRANT),
        (parse_type(CREDENTIALS_BASE), Change.CREDENTIALS),
        (parse_type(RELATIONSHIP_BASE), Change.RELATIONSHIP),
        (parse_type(SUBSCRIPTION_BASE), Change.SUBSCRIPTION),
        (parse_type(GROUP_MEMBER_BASE), Change.GROUP),
    )
    if t is not None
)
EVERY_CHANGE = frozenset(Change)


def change_for_post(post_type: str) -> Change | None:
    """The change storing a post of this type is; None when no cache depends on it."""
    for prefix, change in _TYPE_CHANGES:
        if post_type.startswith(prefix):
            return change
    return None


class Changes:
    """The one invalidation path: writers `announce`, caches `subscribe` and ask `may_keep`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.generation = 0  # bumped on every change seen, here or elsewhere
        self.count = 0  # of change_count: the committed changes every cache has been dropped for
        self._listeners: list[tuple[frozenset[Change], Callable[[], None]]] = []
        self._origin = f"{os.getpid()}.{id(self):x}"  # tells our own notifications apart
        self._deaf = False  # the listening connection is down: changes may be missed
        self._conn: asyncpg.Connection | None = None
        self._listening = False
        self._reconnect: asyncio.Task[None] | None = None

    def subscribe(self, drop: Callable[[], None], kinds: frozenset[Change] = EVERY_CHANGE) -> None:
        """`drop` empties one cache; it is called after every committed change of `kinds`,
        local or remote."""
        self._listeners.append((kinds, drop))

    def may_keep(self, generation: int) -> bool:
        """Whether a value loaded when `generation` was current may be cached now: not when
        read inside a unit of work (it may see rows that never commit)."""
        return generation == self.generation and not self._deaf and not self.db.in_transaction

    async def announce(self, change: Change) -> None:
        """Called by a store inside the unit of work of a write that caches depend on."""
        assert self.db.in_transaction, "a change is announced inside the write's unit of work"
        await self.db.conn.execute(
            "WITH counted AS (UPDATE change_count SET n = n + 1) SELECT pg_notify($1, $2)",
            CHANNEL,
            f"{self._origin} {change}",
        )
        self.db.on_commit(lambda: self._drop(frozenset((change,))))

    def catch_up(self, count: int) -> None:
        """`count`, the committed changes a statement just read (`change_count`): past the
        count this process's caches are known to reflect, a change's NOTIFY has not arrived
        yet (or the change was ours), so everything is dropped now, before the request that
        read it is answered: a revocation answered by one process holds at once in all (D-99)."""
        if count > self.count:
            self.count = count
            self._drop(EVERY_CHANGE)

    async def catch_up_now(self) -> None:
        """For requests that make no nonce check (bewits): read the count on purpose."""
        self.catch_up(await self.db.pool.fetchval("SELECT n FROM change_count"))

    def _drop(self, kinds: frozenset[Change]) -> None:
        self.generation += 1
        for wanted, drop in self._listeners:
            if wanted & kinds:
                drop()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        origin, _, topic = payload.partition(" ")
        if origin == self._origin:
            return  # dropped already, when it committed
        try:
            kinds = frozenset((Change(topic),))
        except ValueError:  # a newer process's kind: assume the worst
            kinds = EVERY_CHANGE
        self._drop(kinds)

    async def start(self) -> None:
        """Listen on a connection of its own for as long as the process serves."""
        self._listening = True
        await self._listen()

    async def _listen(self) -> None:
        self._conn = await db.listening_connection(self.db.pool, CHANNEL, self._notified, self._lost)
        self._deaf = False
        self._drop(EVERY_CHANGE)  # whatever happened while we were not listening

    def _lost(self, _conn: object) -> None:
        """The listening connection died: changes may be missed until it is back, so keep
        nothing meanwhile and reconnect."""
        lost, self._conn = self._conn, None
        self._deaf = True
        self._drop(EVERY_CHANGE)
        self._reconnect = asyncio.get_running_loop().create_task(self._again(lost))

    async def _again(self, lost: asyncpg.Connection | None) -> None:
        if lost is not None:
            # dead, but taken until released: a pool close would wait for it forever
            await self.db.pool.release(lost, discard=True)
        while self._listening:
            try:
                await self._listen()
                return
            except UNAVAILABLE as exc:
                log.warning("cannot listen for cache changes: %s; retrying", exc)
                await asyncio.sleep(1)

    async def stop(self) -> None:
        self._listening = False
        if self._reconnect is not None:
            self._reconnect.cancel()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.remove_termination_listener(self._lost)
                await conn.remove_listener(CHANNEL, self._notified)
            await self.db.pool.release(conn, discard=True)  # it LISTENs: never reused
