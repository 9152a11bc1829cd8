"""The connection pool: waiters served in the order they came (D-83), interrupted connections
never reused, dead ones replaced, and a close that waits for what was taken (D-89)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from tent.store import db
from tent.store.pool import Pool


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not met")


@pytest.fixture
async def dsn(new_database: Callable[[], Awaitable[str]]) -> str:
    return await new_database()


@pytest.fixture
async def pool_of_one(dsn: str) -> AsyncIterator[Pool]:
    pool = await db.create_pool(dsn, 1)
    yield pool
    await db.close_pool(pool)


async def test_a_releasing_request_cannot_overtake_waiting_ones(pool_of_one: Pool) -> None:
    pool, order = pool_of_one, []
    held = await pool.acquire()

    async def wait_turn(name: str) -> None:
        async with pool.acquire():
            order.append(name)

    first = asyncio.create_task(wait_turn("first"))
    await _until(lambda: len(pool._waiters) == 1)
    second = asyncio.create_task(wait_turn("second"))
    await _until(lambda: len(pool._waiters) == 2)
    # The holder gives its connection back and asks again at once, as a busy request does
    # between two queries: it must queue behind the two that were waiting.
    await pool.release(held)
    async with pool.acquire():
        order.append("holder again")
    await asyncio.gather(first, second)
    assert order == ["first", "second", "holder again"]


async def test_a_connection_released_twice_is_given_back_once(dsn: str) -> None:
    pool = await db.create_pool(dsn, 2)
    try:
        conn = await pool.acquire()
        await pool.release(conn)
        await pool.release(conn)
        a, b = await pool.acquire(), await pool.acquire()
        third = asyncio.create_task(pool.acquire().__aenter__())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not third.done()  # two connections at most, both taken
        await pool.release(a)
        assert await asyncio.wait_for(third, 5) is a
        await pool.release(a)
        await pool.release(b)
        assert pool.get_size() == 2 and pool.get_idle_size() == 2
    finally:
        await db.close_pool(pool)


async def test_a_server_error_leaves_the_connection_in_use(pool_of_one: Pool) -> None:
    pid = await pool_of_one.fetchval("SELECT pg_backend_pid()")
    with pytest.raises(asyncpg.UndefinedTableError):
        await pool_of_one.fetch("SELECT * FROM no_such_table")
    assert await pool_of_one.fetchval("SELECT pg_backend_pid()") == pid


async def test_a_cancelled_statement_closes_its_connection_and_the_next_one_works(
    pool_of_one: Pool,
) -> None:
    pid = await pool_of_one.fetchval("SELECT pg_backend_pid()")
    slow = asyncio.create_task(pool_of_one.fetchval("SELECT pg_sleep(30)"))
    await _until(lambda: bool(pool_of_one._in_use))
    await asyncio.sleep(0.05)  # let the statement reach the server
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    # Never handed out mid-cancellation: a fresh connection answers at once.
    assert await asyncio.wait_for(pool_of_one.fetchval("SELECT pg_backend_pid()"), 5) != pid
    assert pool_of_one.get_size() == 1


async def test_a_connection_left_in_a_transaction_is_not_reused(pool_of_one: Pool) -> None:
    conn = await pool_of_one.acquire()
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    await conn.execute("BEGIN")
    await pool_of_one.release(conn)
    assert await pool_of_one.fetchval("SELECT pg_backend_pid()") != pid
    assert pool_of_one.get_size() == 1


async def test_a_connection_whose_backend_died_is_replaced(pool_of_one: Pool, dsn: str) -> None:
    pid = await pool_of_one.fetchval("SELECT pg_backend_pid()")
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    answers = []
    for _ in range(2):  # the first may find out only by trying
        try:
            answers.append(await pool_of_one.fetchval("SELECT pg_backend_pid()"))
            break
        except db.UNAVAILABLE:
            continue
    assert answers and answers[0] != pid
    assert pool_of_one.get_size() == 1


async def test_close_waits_for_taken_connections_and_then_refuses(dsn: str) -> None:
    pool = await db.create_pool(dsn, 2)
    conn = await pool.acquire()
    closing = asyncio.create_task(pool.close())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not closing.done()
    await pool.release(conn)
    await asyncio.wait_for(closing, 5)
    assert pool.get_size() == 0
    with pytest.raises(asyncpg.InterfaceError):
        await pool.acquire()


async def test_idle_connections_past_their_lifetime_close_but_one_stays(dsn: str) -> None:
    # A negative lifetime: every idle connection is past it as soon as another is released.
    pool = await Pool(dsn, 3, idle_lifetime=-1.0).start()
    try:
        taken = [await pool.acquire() for _ in range(3)]
        assert pool.get_size() == 3
        for conn in taken:
            await pool.release(conn)
        assert pool.get_size() == 1 and pool.get_idle_size() == 1
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await db.close_pool(pool)


async def test_an_error_raised_inside_a_transaction_block_keeps_the_connection(pool_of_one: Pool) -> None:
    pid = await pool_of_one.fetchval("SELECT pg_backend_pid()")
    with pytest.raises(ValueError):
        async with pool_of_one.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1")
            raise ValueError("a 400 for the client, nothing wrong with the database")
    assert await pool_of_one.fetchval("SELECT pg_backend_pid()") == pid
