"""Cache invalidation that every process on the database agrees on.

A few lookups are cached in memory because every request needs them (credentials, the
subscribers and webhook apps a new post is checked against, relationships). Their source rows
change rarely: app, grant, credentials, relationship and subscription posts and rows, and
deletes. Each such write sends a `NOTIFY` in its own transaction, so every process (this one
included) hears of it only once it is committed, and drops its caches then.

Between the write and its commit a lookup would read, and could keep, the old row: so from the
moment a write is announced until this process hears its own notification, nothing is kept
(lookups still run, against the database). A write that rolls back sends nothing; its hold
lapses after `HOLD_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

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
from tent.store.db import UNAVAILABLE

log = logging.getLogger(__name__)

CHANNEL = "tent_changes"
HOLD_SECONDS = 5.0

# Post types whose posts feed a cache (see the module docstring); deletes of any type count too.
_WATCHED = (
    APP_BASE, APP_AUTH_BASE, CREDENTIALS_BASE, RELATIONSHIP_BASE, SUBSCRIPTION_BASE, GROUP_MEMBER_BASE
)
WATCHED_TYPES = tuple(f"{t.base}/" for t in map(parse_type, _WATCHED) if t is not None)  # any version


def watched(post_type: str) -> bool:
    """True for a delete (empty type) and for the post types cached lookups depend on."""
    return not post_type or post_type.startswith(WATCHED_TYPES)


class Changes:
    """The one invalidation path: writers `announce`, caches `subscribe` and ask `may_keep`."""

    def __init__(self) -> None:
        self.generation = 0  # bumped on every change seen, here or elsewhere
        self._listeners: list[Callable[[], None]] = []
        self._origin = f"{os.getpid()}.{id(self):x}"  # tells our own notifications apart
        self._seq = 0
        self._held: dict[int, float] = {}  # our announced changes not yet heard back, by seq
        self._conn: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._reconnect: asyncio.Task[None] | None = None

    def subscribe(self, drop: Callable[[], None]) -> None:
        """`drop` empties one cache; it is called on every change, local or remote."""
        self._listeners.append(drop)

    def may_keep(self, generation: int) -> bool:
        """Whether a value loaded when `generation` was current may be cached now."""
        if generation != self.generation:
            return False
        if self._held:
            now = time.monotonic()
            for seq, until in list(self._held.items()):
                if until <= now:
                    del self._held[seq]
        return not self._held

    async def announce(self, conn: Any, topic: str) -> None:
        """Called by a store inside the transaction of a write that caches depend on."""
        self._seq += 1
        self._held[self._seq] = time.monotonic() + HOLD_SECONDS
        self._drop()
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{self._origin} {self._seq} {topic}")

    def _drop(self) -> None:
        self.generation += 1
        for drop in self._listeners:
            drop()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        origin, _, rest = payload.partition(" ")
        if origin == self._origin:
            self._held.pop(int(rest.split(" ", 1)[0] or 0), None)
        self._drop()

    async def start(self, pool: asyncpg.Pool) -> None:
        """Listen on a connection of its own for as long as the process serves."""
        self._pool = pool
        await self._listen()

    async def _listen(self) -> None:
        assert self._pool is not None
        self._conn = await db.listening_connection(self._pool, CHANNEL, self._notified, self._lost)
        self._drop()  # whatever happened while we were not listening

    def _lost(self, _conn: object) -> None:
        """The listening connection died: changes may be missed until it is back, so keep
        nothing meanwhile and reconnect."""
        lost, self._conn = self._conn, None
        self._held[0] = float("inf")
        self._drop()
        self._reconnect = asyncio.get_running_loop().create_task(self._again(lost))

    async def _again(self, lost: asyncpg.Connection | None) -> None:
        if lost is not None and self._pool is not None:
            # dead, but taken until released: a pool close would wait for it forever
            await self._pool.release(lost)
        while self._pool is not None:
            try:
                await self._listen()
                self._held.pop(0, None)
                return
            except UNAVAILABLE as exc:
                log.warning("cannot listen for cache changes: %s; retrying", exc)
                await asyncio.sleep(1)

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if self._reconnect is not None:
            self._reconnect.cancel()
        conn, self._conn = self._conn, None
        if conn is not None and pool is not None:
            with contextlib.suppress(Exception):
                conn.remove_termination_listener(self._lost)
                await conn.remove_listener(CHANNEL, self._notified)
            await pool.release(conn)
