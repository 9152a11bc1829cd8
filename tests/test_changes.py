"""Caches and the one invalidation path (tent.store.changes): a change is heard by every
process once committed, and nothing read while it is uncommitted is kept."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time

from tent.core.principal import OWNER
from tent.handlers.common import AUTHENTICATOR, POSTS, SERVICES
from tent.store.changes import Change, Changes
from tent.store.db import Database, create_pool
from tests.app_helpers import authorize
from tests.conftest import Tent

STATUS = "https://tent.io/types/status/v0"


async def until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.01)


async def test_a_change_reaches_other_processes_only_once_committed(new_database) -> None:
    pool = await create_pool(await new_database(), 4)
    db = Database(pool)
    here, there = Changes(db), Changes(db)
    drops = {"here": 0, "there": 0}
    here.subscribe(lambda: drops.__setitem__("here", drops["here"] + 1))
    there.subscribe(lambda: drops.__setitem__("there", drops["there"] + 1))
    await here.start()
    await there.start()
    try:
        start = dict(drops)
        async with db.transaction():
            await here.announce(Change.DELETE)
            assert not here.may_keep(here.generation)  # nothing read in the unit is kept
            await asyncio.sleep(0.1)
            assert drops == start  # nothing is dropped or heard before the commit
        assert drops["here"] == start["here"] + 1  # this process drops as it commits
        assert here.may_keep(here.generation)
        await until(lambda: drops["there"] == start["there"] + 1)
        await asyncio.sleep(0.1)
        assert drops["here"] == start["here"] + 1  # its own notification is not a second drop
    finally:
        await here.stop()
        await there.stop()
        await pool.close()


async def test_a_rolled_back_change_drops_nothing_anywhere(new_database) -> None:
    pool = await create_pool(await new_database(), 4)
    db = Database(pool)
    here, there = Changes(db), Changes(db)
    await here.start()
    await there.start()
    try:
        before = (here.generation, there.generation)
        with contextlib.suppress(RuntimeError):
            async with db.transaction():
                await here.announce(Change.GRANT)
                raise RuntimeError("the write fails")
        await asyncio.sleep(0.2)  # a notification would have arrived by now
        assert (here.generation, there.generation) == before
        assert here.may_keep(here.generation)
    finally:
        await here.stop()
        await there.stop()
        await pool.close()


async def test_a_cache_is_dropped_only_by_the_changes_it_is_built_from(new_database) -> None:
    pool = await create_pool(await new_database(), 4)
    db = Database(pool)
    changes = Changes(db)
    dropped: list[str] = []
    changes.subscribe(lambda: dropped.append("credentials"), frozenset({Change.GRANT, Change.DELETE}))
    changes.subscribe(lambda: dropped.append("relationships"), frozenset({Change.RELATIONSHIP}))
    try:
        async with db.transaction():
            await changes.announce(Change.GRANT)
        assert dropped == ["credentials"]
    finally:
        await pool.close()


async def test_a_credentials_lookup_racing_a_revocation_is_not_kept(tent: Tent) -> None:
    """The race a cache invalidated before commit had: a lookup between the invalidation and
    the commit read the old grant and cached it, so the revoked token kept working. Now the
    cache is dropped after the commit, and the revoked token is refused at once."""
    client = await authorize(tent, [STATUS], [STATUS])
    token = client.creds.id
    authenticator, posts = tent.server.app[AUTHENTICATOR], tent.server.app[POSTS]
    creds_post = (await (await tent.client.get(tent.post_path(token))).json())["post"]
    grant_id = creds_post["mentions"][0]["post"]
    assert (await authenticator.lookup(token))[1].kind == "authorized_app"
    looked_up = asyncio.Event()
    during: list[str] = []

    async def another_request() -> None:  # its own task: outside the deleting unit of work
        during.append((await authenticator.lookup(token))[1].kind)
        looked_up.set()

    grant = await posts.get(tent.entity, grant_id)
    async with posts.db.transaction():  # the owner's revocation, held open while another looks
        await tent.server.app[SERVICES].posts.delete(grant, OWNER)
        task = asyncio.create_task(another_request(), context=contextvars.Context())
        await looked_up.wait()
    await task
    assert during == ["authorized_app"]  # before the commit: still the committed state
    assert await authenticator.lookup(token) is None
    resp = await client.get("/posts")
    assert resp.status == 403  # the revoked token is refused at once, in this process (D-72)


async def test_a_process_that_has_not_heard_a_revocation_yet_refuses_it_at_once(make_server) -> None:
    """Two processes on one database; the second never hears the revocation's NOTIFY (as if
    it were still on its way). Its next signed request reads the count of committed changes
    with its nonce check, drops its caches and refuses the revoked token (D-99)."""
    alice = await make_server()
    other = await make_server(entity=alice.entity, database_url=alice.settings.database_url)
    client = await authorize(alice, [STATUS], [STATUS])
    on_other = other.as_app({"access_token": client.creds.id, "hawk_key": client.creds.key}, client.app_id)
    assert (await on_other.get("/posts")).status == 200  # its cache now holds the grant
    changes = other.server.app[AUTHENTICATOR].changes
    assert changes._conn is not None
    await changes._conn.remove_listener("tent_changes", changes._notified)  # deaf, unknowingly
    creds_post = (await (await alice.client.get(alice.post_path(client.creds.id))).json())["post"]
    resp = await alice.client.delete(alice.post_path(creds_post["mentions"][0]["post"]))
    assert resp.status == 200, await resp.text()
    assert (await on_other.get("/posts")).status == 403
