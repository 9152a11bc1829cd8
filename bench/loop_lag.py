"""`tent serve` with an event-loop lag monitor and a stall watchdog, to find latency spikes.

    TENT_... .venv/bin/python bench/loop_lag.py [--threshold-ms 20] [--report PATH]

Runs the server exactly as `tent serve` does (same settings from the environment, uvloop),
plus two observers that cost next to nothing while the loop is healthy:

- a lag monitor: a task that sleeps 5 ms and records how late it wakes (a histogram);
- a watchdog thread: when the loop has not run the monitor for `--threshold-ms`, it takes the
  main thread's Python stack (`sys._current_frames`) every 2 ms until the loop is back, so a
  stall names the code that held the loop, not just its length.

gc callbacks time every collection. On SIGTERM/SIGINT it writes a JSON report (lag
percentiles, every stall with its stacks counted, GC pauses) to `--report` and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import asyncpg.connection
import asyncpg.pool
from aiohttp import web

from tent.app import create_app
from tent.config import settings_from

TICK_S = 0.005
SAMPLE_S = 0.002


class Observer:
    def __init__(self, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        self.beat = time.perf_counter()
        self.lags: list[float] = []
        self.stalls: list[dict[str, Any]] = []
        self.gc_pauses: list[float] = []
        self._gc_start = 0.0
        self.handled: list[tuple[float, float]] = []  # (start, seconds) of every request
        self.acquire_waits: list[float] = []  # seconds each pool acquisition waited
        self.queries = 0
        self._main = threading.main_thread().ident
        self._stop = threading.Event()

    async def monitor(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            self.beat = now
            self.lags.append(now - t0 - TICK_S)

    def watchdog(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            if time.perf_counter() - self.beat < self.threshold_s:
                continue
            began = self.beat
            stacks: Counter[str] = Counter()
            while self.beat == began and not self._stop.is_set():
                frame = sys._current_frames().get(self._main)  # type: ignore[arg-type]
                if frame is not None:
                    lines = [
                        f"{f.name} ({Path(f.filename).name}:{f.lineno})"
                        for f in traceback.extract_stack(frame)
                    ]
                    stacks[" ; ".join(lines[-12:])] += 1
                time.sleep(SAMPLE_S)
            self.stalls.append(
                {
                    "at": round(began, 3),
                    "ms": round((self.beat - began) * 1000, 1),
                    "stacks": stacks.most_common(3),
                }
            )

    def watch_pool(self) -> None:
        """Count pool acquisitions and queries, and time each acquisition's wait (asyncpg's
        own methods, wrapped for this process only)."""
        acquire = asyncpg.pool.Pool._acquire
        execute = asyncpg.connection.Connection._execute
        observer = self

        async def timed_acquire(pool: Any, timeout: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await acquire(pool, timeout)
            finally:
                observer.acquire_waits.append(time.perf_counter() - t0)

        async def counted_execute(conn: Any, *args: Any, **kwargs: Any) -> Any:
            observer.queries += 1
            return await execute(conn, *args, **kwargs)

        asyncpg.pool.Pool._acquire = timed_acquire  # type: ignore[method-assign]
        asyncpg.connection.Connection._execute = counted_execute  # type: ignore[method-assign]

    @web.middleware
    async def timing(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Time from the request reaching the app to its response: a long one here means waiting
        inside the server (pool, database); a long one only in wrk means waiting before the app."""
        t0 = time.perf_counter()
        try:
            return await handler(request)
        finally:
            self.handled.append((t0, time.perf_counter() - t0))

    def on_gc(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_pauses.append(time.perf_counter() - self._gc_start)

    def report(self) -> dict[str, Any]:
        lags = sorted(self.lags) or [0.0]

        def pct(p: float) -> float:
            return round(lags[min(len(lags) - 1, int(p * len(lags)))] * 1000, 2)

        pauses = sorted(self.gc_pauses) or [0.0]
        took = sorted(d for _, d in self.handled) or [0.0]
        waits = sorted(self.acquire_waits) or [0.0]

        def pct_of(values: list[float], p: float) -> float:
            return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 2)

        def in_app(p: float) -> float:
            return round(took[min(len(took) - 1, int(p * len(took)))] * 1000, 2)

        over: Counter[int] = Counter()  # requests slower than the threshold, per second of run
        for t0, d in self.handled:
            if d >= self.threshold_s:
                over[int(t0 - self.handled[0][0])] += 1
        return {
            "ticks": len(self.lags),
            "lag_ms": {"p50": pct(0.5), "p99": pct(0.99), "p999": pct(0.999), "max": pct(1.0)},
            "stalls_over_threshold": len(self.stalls),
            "stalls": sorted(self.stalls, key=lambda s: -s["ms"])[:30],
            "requests": len(self.handled),
            "pool_acquisitions_per_request": round(len(self.acquire_waits) / max(len(self.handled), 1), 2),
            "queries_per_request": round(self.queries / max(len(self.handled), 1), 2),
            "acquire_wait_ms": {
                "p50": pct_of(waits, 0.5),
                "p99": pct_of(waits, 0.99),
                "p999": pct_of(waits, 0.999),
                "max": pct_of(waits, 1.0),
            },
            "in_app_ms": {"p50": in_app(0.5), "p99": in_app(0.99), "p999": in_app(0.999), "max": in_app(1.0)},
            "slow_in_app_per_second": dict(sorted(over.items())),
            "gc": {
                "collections": len(self.gc_pauses),
                "max_ms": round(pauses[-1] * 1000, 2),
                "total_ms": round(sum(pauses) * 1000, 1),
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold-ms", type=float, default=20.0)
    parser.add_argument("--report", default="loop-lag.json")
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    observer = Observer(args.threshold_ms / 1000)
    settings = settings_from()
    app = create_app(settings)
    app.middlewares.insert(0, observer.timing)
    observer.watch_pool()

    async def observe(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(observer.monitor())
        thread = threading.Thread(target=observer.watchdog, daemon=True)
        thread.start()
        gc.callbacks.append(observer.on_gc)
        yield
        observer._stop.set()
        task.cancel()
        Path(args.report).write_text(json.dumps(observer.report(), indent=2) + "\n")

    app.cleanup_ctx.append(observe)
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=lambda *_: None)


if __name__ == "__main__":
    main()
