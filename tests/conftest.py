"""Fixtures: a real PostgreSQL (TENT_TEST_DATABASE_URL, else an embedded one), one fresh
database per test cloned from a migrated template, and servers on real loopback ports."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tent.app import create_app
from tent.config import Settings
from tent.store import db

STATUS = "https://tent.io/types/status/v0#"
POST_MT = "application/vnd.tent.post.v0+json"


def _with_database(url: str, name: str) -> str:
    """Same server, other database (works for host:port URLs and socket `?host=` URLs)."""
    base, sep, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{name}{sep}{query}"


@pytest.fixture(scope="session")
def admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TENT_TEST_DATABASE_URL")
    if url:
        yield url
        return
    data_dir = Path(tmp_path_factory.mktemp("pg"))
    dsn, handle = db.start_embedded(data_dir)
    yield dsn
    handle.cleanup()


@pytest.fixture(scope="session")
def template_name(admin_url: str) -> Iterator[str]:
    name = f"tent_template_{uuid.uuid4().hex[:10]}"

    async def setup() -> None:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        conn = await asyncpg.connect(_with_database(admin_url, name))
        await db.migrate(conn)
        await conn.close()

    async def teardown() -> None:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(setup())
    yield name
    asyncio.run(teardown())


@pytest.fixture
async def new_database(admin_url: str, template_name: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes empty, migrated databases; each test gets its own, dropped afterwards."""
    created: list[str] = []

    async def make() -> str:
        name = f"tent_test_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
        finally:
            await conn.close()
        created.append(name)
        return _with_database(admin_url, name)

    yield make
    conn = await asyncpg.connect(admin_url)
    try:
        for name in created:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class Tent:
    """A running server and a client for it, with small helpers that speak the protocol."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.entity = settings.entity

    def post_path(self, post_id: str, entity: str | None = None) -> str:
        return f"/posts/{quote(entity or self.entity, safe='')}/{quote(post_id, safe='')}"

    async def create(self, post_type: str = STATUS, content: Any = None, **members: Any) -> dict:
        body = {"type": post_type, **members}
        if content is not None:
            body["content"] = content
        resp = await self.client.post(
            "/posts", json=body, headers={"Content-Type": f'{POST_MT}; type="{post_type}"'}
        )
        assert resp.status == 200, await resp.text()
        return (await resp.json())["post"]

    async def status(self, text: str, **members: Any) -> dict:
        return await self.create(STATUS, {"text": text}, **members)

    async def update(self, post: dict, content: Any, **members: Any) -> dict:
        body = {
            "type": post["type"],
            "content": content,
            "version": {"parents": [{"version": post["version"]["id"]}]},
            **members,
        }
        resp = await self.client.put(
            self.post_path(post["id"]),
            json=body,
            headers={"Content-Type": f'{POST_MT}; type="{post["type"]}"'},
        )
        assert resp.status == 200, await resp.text()
        return (await resp.json())["post"]

    async def feed(self, query: str = "", expect: int = 200) -> dict:
        resp = await self.client.get("/posts" + query)
        assert resp.status == expect, await resp.text()
        return await resp.json()


@pytest.fixture
async def make_server(
    new_database: Callable[[], Awaitable[str]], unused_tcp_port_factory: Callable[[], int]
) -> AsyncIterator[Callable[..., Awaitable[Tent]]]:
    started: list[TestClient] = []

    async def make(**overrides: Any) -> Tent:
        port = unused_tcp_port_factory()
        values: dict[str, Any] = {
            "entity": f"http://127.0.0.1:{port}",
            "host": "127.0.0.1",
            "port": port,
            "database_url": await new_database(),
            "app_approval": "auto",
            "allow_private_addresses": True,
            "delivery_retry_base": 0.05,
        }
        values.update(overrides)
        settings = Settings(**values)
        server = TestServer(create_app(settings), host="127.0.0.1", port=port)
        client = TestClient(server)
        await client.start_server()
        started.append(client)
        return Tent(client, settings)

    yield make
    for client in started:
        await client.close()


@pytest.fixture
async def tent(make_server: Callable[..., Awaitable[Tent]]) -> Tent:
    return await make_server()
