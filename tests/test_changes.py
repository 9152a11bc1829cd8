"""Caches and the one invalidation path (tent.store.changes): a change is heard by every
process once committed, and nothing read while it is uncommitted is kept."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from tent.handlers.common import AUTHENTICATOR, POSTS
from tent.store import changes as changes_module
from tent.store.changes import Changes
from tests.app_helpers import authorize
from tests.conftest import Tent

STATUS = "https://tent.io/types/status/v0"


async def until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.01)


async def test_a_change_reaches_other_processes_only_once_committed(new_database) -> None:
    pool = await asyncpg.create_pool(await new_database(), min_size=1, max_size=4)
    here, there = Changes(), Changes()
    drops = {"here": 0, "there": 0}
    here.subscribe(lambda: drops.__setitem__("here", drops["here"] + 1))
    there.subscribe(lambda: drops.__setitem__("there", drops["there"] + 1))
    await here.start(pool)
    await there.start(pool)
    try:
        start = dict(drops)
        async with pool.acquire() as conn, conn.transaction():
            await here.announce(conn, "delete")
            assert drops["here"] == start["here"] + 1  # this process drops at once...
            assert not here.may_keep(here.generation)  # ...and keeps nothing until commit
            await asyncio.sleep(0.1)
            assert drops["there"] == start["there"]  # nothing is heard before the commit
        await until(lambda: drops["there"] == start["there"] + 1)
        await until(lambda: here.may_keep(here.generation))  # its own notification came back
    finally:
        await here.stop()
        await there.stop()
        await pool.close()


async def test_a_rolled_back_change_stops_holding_the_caches_after_a_while(new_database, monkeypatch) -> None:
    monkeypatch.setattr(changes_module, "HOLD_SECONDS", 0.2)
    pool = await asyncpg.create_pool(await new_database(), min_size=1, max_size=4)
    changes = Changes()
    await changes.start(pool)
    try:
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await changes.announce(conn, "delete")
            await tx.rollback()
        assert not changes.may_keep(changes.generation)
        await until(lambda: changes.may_keep(changes.generation))
    finally:
        await changes.stop()
        await pool.close()


async def test_a_credentials_lookup_racing_a_revocation_is_not_kept(tent: Tent) -> None:
    """The race a cache invalidated before commit had: a lookup between the invalidation and
    the commit read the old grant and cached it, so the revoked token kept working."""
    client = await authorize(tent, [STATUS], [STATUS])
    token = client.creds.id
    authenticator, posts = tent.server.app[AUTHENTICATOR], tent.server.app[POSTS]
    creds_post = (await (await tent.client.get(tent.post_path(token))).json())["post"]
    grant_id = creds_post["mentions"][0]["post"]
    assert (await authenticator.lookup(token))[1].kind == "authorized_app"
    async with posts.pool.acquire() as conn, conn.transaction():
        await posts.delete_post(tent.entity, grant_id, conn)
        _, during = await authenticator.lookup(token)  # another request, before the commit
        assert during.kind == "authorized_app"  # still the committed state
    _, after = await authenticator.lookup(token)
    assert after.kind != "authorized_app"
