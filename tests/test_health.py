"""`/healthz` and `/readyz`: unauthenticated and cheap; readiness follows the database down
and back up, the delivery worker recovers with it, and a server stops while it is gone."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg

from tent.handlers.common import POSTS
from tests.fed_helpers import eventually, wait_delivered


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def _allow_connections(admin_url: str, database_url: str, allowed: bool) -> None:
    """Take the server's database away (refusing new connections, ending the open ones), or
    give it back with everything in it: a real outage without stopping the shared server."""
    name = _database_name(database_url)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if not allowed:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
    finally:
        await conn.close()


async def _readyz(tent) -> tuple[int, dict]:
    resp = await tent.anon.get("/readyz")
    return resp.status, await resp.json()


async def test_healthz_answers_anyone_even_with_a_broken_authorization_header(tent) -> None:
    assert (await tent.anon.get("/healthz")).status == 200
    resp = await tent.anon.get("/healthz", headers={"Authorization": "Hawk nonsense"})
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}
    assert "Server-Authorization" not in resp.headers


async def test_readyz_reports_each_check_when_all_is_well(tent) -> None:
    status, body = await _readyz(tent)
    assert status == 200
    assert body == {"ready": True, "checks": {"database": "ok", "migrations": "ok", "outbox": "ok"}}


async def test_health_endpoints_live_under_the_entity_path(make_server, unused_tcp_port_factory) -> None:
    port = unused_tcp_port_factory()
    tent = await make_server(entity=f"http://127.0.0.1:{port}/me", port=port)
    assert (await tent.anon.get("/me/readyz")).status == 200
    assert (await tent.anon.get("/me/healthz")).status == 200
    assert (await tent.anon.get("/readyz")).status == 404


async def test_readyz_names_migrations_that_are_not_applied(tent) -> None:
    async with tent.server.app[POSTS].db.pool.acquire() as conn:
        await conn.execute("DELETE FROM schema_migrations WHERE version = 10")
    status, body = await _readyz(tent)
    assert status == 503
    assert body["checks"]["migrations"] == "not applied: 010"
    assert body["checks"]["database"] == "ok"


async def test_readyz_is_503_while_the_database_is_gone_and_deliveries_resume_after(
    make_server, admin_url
) -> None:
    alice = await make_server()
    bob = await make_server()
    await _allow_connections(admin_url, alice.settings.database_url, False)
    try:

        async def not_ready():
            status, body = await _readyz(alice)
            return body if status == 503 else None

        body = await eventually(not_ready)
        assert body["ready"] is False
        assert body["checks"]["database"] != "ok"
        assert (await alice.anon.get("/healthz")).status == 200  # alive, only not ready
    finally:
        await _allow_connections(admin_url, alice.settings.database_url, True)

    seen: list[dict] = []

    async def ready():
        status, body = await _readyz(alice)
        seen.append(body)
        return status == 200  # the outbox check needs the worker listening again

    try:
        await eventually(ready)
    except AssertionError:
        raise AssertionError(f"still not ready: {seen[-1]}") from None
    post = await alice.status("back again", mentions=[{"entity": bob.entity}])
    await wait_delivered(alice, post["id"], bob.entity)


async def test_server_stops_while_the_database_is_gone(make_server, admin_url) -> None:
    tent = await make_server()
    await _allow_connections(admin_url, tent.settings.database_url, False)

    async def not_ready():
        return (await tent.anon.get("/readyz")).status == 503

    await eventually(not_ready)
    # Bounded by the outbox's and the pool's own timeouts (seconds); the limit here only keeps
    # a regression from hanging the whole run.
    await asyncio.wait_for(tent.close(), 60)
