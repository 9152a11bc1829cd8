"""A post fanned out to many peers is read from the database once: the first sends of a
fan-out start together and share the read in flight. The store stands in for PostgreSQL so
that the test decides when the read answers; delivery itself is tested against real servers
in test_delivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tent.auth.hawk import Credentials
from tent.config import Settings
from tent.delivery.federation import Federation
from tests.fed_helpers import delivery_row

POST = {
    "id": "post",
    "entity": "https://me.example",
    "type": "https://tent.io/types/status/v0#",
    "content": {"text": "hello"},
    "version": {"id": "v1"},
}


class ReadsOnCue:
    """Counts reads of one post; each waits for `answer`."""

    def __init__(self) -> None:
        self.reads = 0
        self.answer = asyncio.Event()
        self.found: dict[str, Any] | None = POST

    async def get(self, entity: str, post_id: str, version: str | None = None) -> dict[str, Any] | None:
        self.reads += 1
        await self.answer.wait()
        return self.found


@pytest.fixture
async def posts() -> ReadsOnCue:
    return ReadsOnCue()


@pytest.fixture
async def federation(posts: ReadsOnCue) -> AsyncIterator[Federation]:
    fed = Federation(Settings(), posts, None, None, Credentials("id", "key"))  # type: ignore[arg-type]
    yield fed
    await fed.close()


async def test_sends_of_one_version_started_together_read_it_once(
    federation: Federation, posts: ReadsOnCue
) -> None:
    waiting = [asyncio.create_task(federation._version(delivery_row(n))) for n in range(20)]
    await asyncio.sleep(0)
    posts.answer.set()
    found = await asyncio.gather(*waiting)
    assert posts.reads == 1
    assert all(f is not None and f[0]["id"] == "post" for f in found)
    assert await federation._version(delivery_row(21)) is found[0]  # and later sends too
    assert posts.reads == 1


async def test_a_cancelled_send_leaves_the_shared_read_to_the_others(
    federation: Federation, posts: ReadsOnCue
) -> None:
    first = asyncio.create_task(federation._version(delivery_row(1)))
    second = asyncio.create_task(federation._version(delivery_row(2)))
    await asyncio.sleep(0)
    first.cancel()
    posts.answer.set()
    found = await second
    assert found is not None and found[0]["id"] == "post"
    assert posts.reads == 1


async def test_a_missing_version_is_read_again_next_time(federation: Federation, posts: ReadsOnCue) -> None:
    posts.found = None
    posts.answer.set()
    assert await federation._version(delivery_row(1)) is None
    posts.found = POST
    found = await federation._version(delivery_row(2))
    assert found is not None and found[0]["id"] == "post"
    assert posts.reads == 2


async def test_a_forgotten_version_is_read_again(federation: Federation, posts: ReadsOnCue) -> None:
    posts.answer.set()
    await federation._version(delivery_row(1))
    federation.forget_bodies()  # a deletion happened
    await federation._version(delivery_row(2))
    assert posts.reads == 2
