"""Replay protection with coalesced nonce checks (tent.auth.replay, D-32, D-87): concurrent
checks share statements, and a nonce is still accepted once only, in any process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from tent.auth.replay import MAX_IN_FLIGHT, ReplayGuard
from tent.store.auth import AuthStore
from tent.store.db import Database, create_pool

WINDOW = 120.0


class CountingAuthStore(AuthStore):
    """The real store, counting the statements the guard sends."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.statements = 0
        self.fail_next = False

    async def first_uses_of_nonces(self, keys: list[int], now: int, expires_at: int) -> tuple[set[int], int]:
        self.statements += 1
        if self.fail_next:
            self.fail_next = False
            raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
        return await super().first_uses_of_nonces(keys, now, expires_at)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(new_database: Callable[[], Awaitable[str]]) -> AsyncIterator[Database]:
    pool = await create_pool(await new_database(), 4)
    yield Database(pool)
    await pool.close()


async def test_concurrent_checks_share_statements(db: Database) -> None:
    store = CountingAuthStore(db)
    guard = ReplayGuard(store, WINDOW)
    results = await asyncio.gather(*(guard.first_use(key) for key in range(1, 201)))
    assert results == [True] * 200
    assert 1 <= store.statements <= MAX_IN_FLIGHT
    assert await db.conn.fetchval("SELECT count(*) FROM hawk_nonces") == 200


async def test_checks_arriving_during_a_flush_wait_for_the_next_one(db: Database) -> None:
    store = CountingAuthStore(db)
    guard = ReplayGuard(store, WINDOW)
    first = [asyncio.ensure_future(guard.first_use(key)) for key in range(1, 11)]
    await asyncio.sleep(0)  # the flush has started
    later = [asyncio.ensure_future(guard.first_use(key)) for key in range(11, 21)]
    assert await asyncio.gather(*first, *later) == [True] * 20
    assert store.statements <= 2


async def test_a_nonce_twice_in_one_batch_is_accepted_once(db: Database) -> None:
    guard = ReplayGuard(AuthStore(db), WINDOW)
    results = await asyncio.gather(guard.first_use(7), guard.first_use(7), guard.first_use(8))
    assert sorted(results[:2]) == [False, True]
    assert results[2] is True


async def test_a_nonce_seen_by_one_process_is_refused_by_another(db: Database) -> None:
    here, there = ReplayGuard(AuthStore(db), WINDOW), ReplayGuard(AuthStore(db), WINDOW)
    assert await here.first_use(42) is True
    assert await there.first_use(42) is False
    assert await here.first_use(42) is False


async def test_two_processes_racing_for_overlapping_nonces_accept_each_once(db: Database) -> None:
    here, there = ReplayGuard(AuthStore(db), WINDOW), ReplayGuard(AuthStore(db), WINDOW)
    keys = list(range(1000, 1100))
    results = await asyncio.gather(
        *(here.first_use(key) for key in keys), *(there.first_use(key) for key in reversed(keys))
    )
    accepted_here, accepted_there = results[: len(keys)], results[len(keys) :][::-1]
    assert all(a != b for a, b in zip(accepted_here, accepted_there, strict=True))


async def test_a_nonce_is_accepted_again_only_after_the_window(db: Database) -> None:
    clock = Clock()
    guard = ReplayGuard(AuthStore(db), WINDOW, clock)
    assert await guard.first_use(5) is True
    clock.now += WINDOW - 1
    assert await guard.first_use(5) is False
    clock.now += 2  # past the first record: the replay above did not extend it
    assert await guard.first_use(5) is True


async def test_a_failed_statement_fails_its_requests_and_the_next_ones_go_through(db: Database) -> None:
    store = CountingAuthStore(db)
    guard = ReplayGuard(store, WINDOW)
    store.fail_next = True
    failed = await asyncio.gather(*(guard.first_use(key) for key in (1, 2, 3)), return_exceptions=True)
    assert all(isinstance(r, asyncpg.exceptions.ConnectionDoesNotExistError) for r in failed)
    assert await asyncio.gather(guard.first_use(1), guard.first_use(4)) == [True, True]


async def test_a_cancelled_request_does_not_disturb_the_others(db: Database) -> None:
    guard = ReplayGuard(AuthStore(db), WINDOW)
    gone = asyncio.ensure_future(guard.first_use(1))
    stays = asyncio.ensure_future(guard.first_use(2))
    await asyncio.sleep(0)
    gone.cancel()
    assert await stays is True
    assert await guard.first_use(1) is False  # it was recorded all the same
