"""Replay protection shared by every process (D-32), with the nonce checks of concurrent
requests coalesced into one statement (D-87).

Every Hawk-signed request must record its nonce in `hawk_nonces` before it is answered. One
INSERT per request doubled the statements of a signed read against an anonymous one, and on a
small machine PostgreSQL's share of the CPU is what limits throughput. So the checks that
arrive while the loop is busy travel together, like a group commit: the first check of a
loop turn schedules a flush for the end of that turn, every check made before it runs joins
it, and at most `MAX_IN_FLIGHT` flushes run at once; checks arriving while they are all busy
wait for the next one. An idle server therefore pays one round trip per request, as before,
and a busy one far fewer than one each.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable

from tent.store.auth import AuthStore

MAX_IN_FLIGHT = 2
MAX_BATCH = 1000


class ReplayGuard:
    def __init__(
        self,
        store: AuthStore,
        window_seconds: float,
        clock: Callable[[], float] = time.time,
        on_count: Callable[[int], None] = lambda count: None,
    ) -> None:
        self.store = store
        self.on_count = on_count  # the count of committed changes each check reads (D-99)
        self.window_ms = int(window_seconds * 1000)
        self.clock = clock
        self._waiting: dict[int, asyncio.Future[bool]] = {}
        self._scheduled = False
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def first_use(self, key: int) -> bool:
        """True if no process has seen this nonce key within the window; it is then recorded."""
        if key in self._waiting:
            return False  # the same nonce twice in one batch: the second is a replay
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if not self._scheduled and self._in_flight < MAX_IN_FLIGHT:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        if not self._waiting or self._in_flight >= MAX_IN_FLIGHT:
            return
        if len(self._waiting) <= MAX_BATCH:
            batch, self._waiting = self._waiting, {}
        else:
            keys = list(self._waiting)[:MAX_BATCH]
            batch = {key: self._waiting.pop(key) for key in keys}
        self._in_flight += 1
        # A fresh context: the flush belongs to no request's unit of work (tent.store.db).
        task = asyncio.get_running_loop().create_task(self._flush(batch), context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: dict[int, asyncio.Future[bool]]) -> None:
        try:
            now = int(self.clock() * 1000)
            fresh, count = await self.store.first_uses_of_nonces(list(batch), now, now + self.window_ms)
            self.on_count(count)  # before any waiting request goes on
        except Exception as exc:  # every waiting request fails as its own INSERT would have
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
        except BaseException:  # shutting down: the requests waiting on it are cancelled too
            for future in batch.values():
                future.cancel()
            raise
        else:
            for key, future in batch.items():
                if not future.done():
                    future.set_result(key in fresh)
        finally:
            self._in_flight -= 1
            if self._waiting:
                self._schedule()
