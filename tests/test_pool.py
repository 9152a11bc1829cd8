"""The connection pool serves waiters in the order they came (D-83)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tent.store import db


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0)


async def test_a_releasing_request_cannot_overtake_waiting_ones(
    new_database: Callable[[], Awaitable[str]],
) -> None:
    pool = await db.create_pool(await new_database(), 1)
    order: list[str] = []
    try:
        held = await pool.acquire()

        async def wait_turn(name: str) -> None:
            async with pool.acquire():
                order.append(name)

        first = asyncio.create_task(wait_turn("first"))
        await _until(lambda: pool._turns.locked() and bool(pool._turns._waiters))
        second = asyncio.create_task(wait_turn("second"))
        await _until(lambda: len(pool._turns._waiters or ()) == 2)
        # The holder gives its connection back and asks again at once, as a busy request
        # does between two queries: it must queue behind the two that were waiting.
        await pool.release(held)
        async with pool.acquire():
            order.append("holder again")
        await asyncio.gather(first, second)
        assert order == ["first", "second", "holder again"]
    finally:
        await pool.close()


async def test_a_connection_released_twice_gives_back_one_turn(
    new_database: Callable[[], Awaitable[str]],
) -> None:
    pool = await db.create_pool(await new_database(), 2)
    try:
        conn = await pool.acquire()
        await pool.release(conn)
        await pool.release(conn)
        a, b = await pool.acquire(), await pool.acquire()
        assert pool._turns.locked()
        await pool.release(a)
        await pool.release(b)
        assert not pool._turns.locked()
    finally:
        await pool.close()
