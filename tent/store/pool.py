"""The connection pool: asyncpg connections handed out first come, first served (D-83, D-89).

asyncpg's own pool costs a hot request more than its statement does in Python: every
`Pool.fetch` went through a queue, a proxy object, a timeout context and an `asyncio.shield`
task on release (19 µs of the 236 µs of CPU a feed request took, bench/). This pool keeps
only what the server needs:

- a FIFO line of waiters, served in order, with a released connection handed straight to
  the first of them, so a request that releases and asks again cannot overtake (D-83);
- at most `size` connections, opened on demand, and idle ones closed after
  `idle_lifetime` seconds (one always stays);
- no reset query on release: the server keeps no session state on pooled connections
  (transactions are closed by their context managers, locks are transaction-scoped; the
  LISTEN connections are discarded, not given back), and a reset was a round trip per
  request (12 % of new_post, measured with asyncpg's pool);
- a connection whose statement was interrupted (cancelled, timed out, cut off) or that is
  left inside a transaction is closed, never handed out again; an error PostgreSQL reported,
  or one our code raised inside a block, leaves it usable;
- `close()` waits for every connection taken to come back; `terminate()` drops them all.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any

import asyncpg

Init = Callable[[asyncpg.Connection], Awaitable[None]]


# What may leave a connection mid-statement or broken: a cancelled or timed-out await, or a
# failure of the connection itself. Anything else (an error PostgreSQL reported, or one our
# code raised inside `async with pool.acquire()`, after its transaction rolled back) leaves
# the session intact.
_INTERRUPTIONS = (
    asyncio.CancelledError,
    TimeoutError,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def _reusable_after(exc: BaseException | None) -> bool:
    return not isinstance(exc, _INTERRUPTIONS)


class Pool:
    def __init__(
        self,
        dsn: str,
        size: int,
        *,
        init: Init | None = None,
        command_timeout: float | None = None,
        idle_lifetime: float = 300.0,
    ) -> None:
        self._dsn = dsn
        self._max = size
        self._init = init
        self._command_timeout = command_timeout
        self._idle_lifetime = idle_lifetime
        self._idle: deque[tuple[asyncpg.Connection, float]] = deque()  # newest at the right
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._in_use: set[asyncpg.Connection] = set()
        self._opened = 0  # connections open or being opened
        self._closing = False
        self._all_back = asyncio.Event()

    async def start(self) -> Pool:
        """Open the first connection, so that a database that cannot be reached fails the
        start rather than the first request."""
        await self.release(await self.acquire())
        return self

    # -- taking and giving back ------------------------------------------------------------

    def acquire(self) -> _Acquire:
        """`conn = await pool.acquire()` (then `await pool.release(conn)`), or
        `async with pool.acquire() as conn:`."""
        return _Acquire(self)

    async def _take(self) -> asyncpg.Connection:
        while True:
            if self._closing:
                raise asyncpg.InterfaceError("the connection pool is closing")
            while self._waiters and self._waiters[0].done():
                self._waiters.popleft()  # cancelled while waiting
            conn: asyncpg.Connection | None
            if self._waiters or (not self._idle and self._opened >= self._max):
                conn = await self._wait()
            elif self._idle:
                conn, _ = self._idle.pop()
            else:
                self._opened += 1
                conn = None
            if conn is None:  # this caller may open a connection (its slot is counted)
                conn = await self._open()
            elif conn.is_closed():  # its backend went away while it was idle
                self._opened -= 1
                self._hand_on(None)
                continue
            self._in_use.add(conn)
            return conn

    async def _wait(self) -> asyncpg.Connection | None:
        turn: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            return await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                given = turn.result()  # handed a turn just as we were cancelled: pass it on
                if given is None:
                    self._opened -= 1
                self._hand_on(given)
            raise

    async def _open(self) -> asyncpg.Connection:
        try:
            conn = await asyncpg.connect(self._dsn, command_timeout=self._command_timeout)
            try:
                if self._init is not None:
                    await self._init(conn)
            except BaseException:
                conn.terminate()
                raise
        except BaseException:
            self._opened -= 1
            self._hand_on(None)  # a waiter may try in our place
            raise
        return conn

    async def release(self, conn: asyncpg.Connection, *, discard: bool = False) -> None:
        """Give `conn` back (a second release of the same connection does nothing). With
        `discard`, it is closed instead: a LISTEN connection, or one holding session state."""
        self._give_back(conn, reusable=not discard)

    def _give_back(self, conn: asyncpg.Connection, reusable: bool) -> None:
        if conn not in self._in_use:
            return
        self._in_use.remove(conn)
        if not reusable or self._closing or conn.is_closed() or conn.is_in_transaction():
            conn.terminate()
            self._opened -= 1
            self._hand_on(None)
        else:
            self._hand_on(conn)
        if self._closing and not self._in_use:
            self._all_back.set()

    def _hand_on(self, conn: asyncpg.Connection | None) -> None:
        """`conn`, or for None a free slot (the right to open a connection, counted for the
        waiter that takes it), to the first live waiter; a connection nobody waits for goes
        idle."""
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                if conn is None:
                    self._opened += 1
                turn.set_result(conn)
                return
        if conn is None:
            return
        if self._closing:
            conn.terminate()
            self._opened -= 1
            return
        now = time.monotonic()
        self._idle.append((conn, now))
        while len(self._idle) > 1 and self._idle[0][1] < now - self._idle_lifetime:
            stale, _ = self._idle.popleft()
            stale.terminate()
            self._opened -= 1

    # -- one statement on any connection ---------------------------------------------------

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        async with self.acquire() as conn:
            return await conn.execute(query, *args, timeout=timeout)

    async def executemany(self, query: str, args: Any, *, timeout: float | None = None) -> None:
        async with self.acquire() as conn:
            await conn.executemany(query, args, timeout=timeout)

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            return await conn.fetch(query, *args, timeout=timeout)

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> asyncpg.Record | None:
        async with self.acquire() as conn:
            return await conn.fetchrow(query, *args, timeout=timeout)

    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(query, *args, timeout=timeout)

    # -- the pool as a whole ---------------------------------------------------------------

    def get_size(self) -> int:
        return self._opened

    def get_idle_size(self) -> int:
        return len(self._idle)

    def get_max_size(self) -> int:
        return self._max

    async def close(self) -> None:
        """Refuse new takers, wait for every connection taken to come back, close them all."""
        self._closing = True
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_exception(asyncpg.InterfaceError("the connection pool is closing"))
        if self._in_use:
            self._all_back.clear()
            await self._all_back.wait()
        while self._idle:
            conn, _ = self._idle.popleft()
            self._opened -= 1
            await conn.close()

    def terminate(self) -> None:
        self._closing = True
        for conn in [c for c, _ in self._idle] + list(self._in_use):
            conn.terminate()
        self._idle.clear()
        self._in_use.clear()
        self._opened = 0
        self._all_back.set()


class _Acquire:
    """What `Pool.acquire()` returns: awaitable, or an async context manager that gives the
    connection back (closed instead when the block ended by an interruption)."""

    __slots__ = ("_conn", "_pool")

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        return self._pool._take().__await__()

    async def __aenter__(self) -> asyncpg.Connection:
        self._conn = await self._pool._take()
        return self._conn

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._give_back(conn, _reusable_after(exc))
