"""Event-loop lag: how much later than asked a timer fires. Lag is time the loop spent on
something that did not yield (a slow callback, a blocking call), during which every request
of the process waited; a sample every half second costs nothing measurable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

INTERVAL = 0.5


class LoopLag:
    def __init__(self, observe: Callable[[float], None], interval: float = INTERVAL) -> None:
        self.observe = observe
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tent-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.observe(max(loop.time() - asked, 0.0))
