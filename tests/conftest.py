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

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from tent.app import create_app
from tent.auth.hawk import Credentials
from tent.bootstrap import ensure_owner_app
from tent.config import Settings
from tent.handlers.common import POSTS
from tent.store import db
from tests.signing import sign

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


class Client:
    """HTTP to one server, signed with Hawk when it has credentials (as an app would)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        creds: Credentials | None = None,
        app_id: str | None = None,
    ) -> None:
        self.session = session
        self.base = base
        self.creds = creds
        self.app_id = app_id

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | aiohttp.MultipartWriter | None = None,
        headers: dict[str, str] | None = None,
        payload_hash: bool = True,
        **kwargs: Any,
    ) -> aiohttp.ClientResponse:
        """Sends the request signed by mohawk, with a payload hash over the exact bytes sent
        (a multipart body is serialised first, so its hash covers every part)."""
        headers = dict(headers or {})
        if json is not None:
            data = orjson.dumps(json)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(data, aiohttp.MultipartWriter):
            headers.setdefault("Content-Type", data.content_type)
            data = await data.as_bytes()
        if isinstance(data, str):
            data = data.encode()
        url = self.base + path
        if self.creds is not None and "Authorization" not in headers:
            headers["Authorization"] = sign(
                self.creds,
                method,
                url,
                data,
                headers.get("Content-Type"),
                app=self.app_id,
                payload_hash=payload_hash,
            )
        return await self.session.request(
            method, URL(url, encoded=True), data=data, headers=headers, allow_redirects=False, **kwargs
        )

    async def get(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("GET", path, **kw)

    async def head(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("HEAD", path, **kw)

    async def post(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("DELETE", path, **kw)

    async def patch(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("PATCH", path, **kw)


class Tent:
    """A running server, clients for it (owner-signed `client`, unsigned `anon`), and small
    helpers that speak the protocol as the owner's app."""

    def __init__(
        self, server: TestServer, session: aiohttp.ClientSession, settings: Settings, owner: dict[str, Any]
    ) -> None:
        self.server = server
        self.session = session
        self.settings = settings
        self.entity = settings.entity
        self.base = f"http://127.0.0.1:{settings.port}"
        self.owner = owner
        self.client = Client(session, self.base, Credentials(owner["id"], owner["hawk_key"]), owner["app_id"])
        self.anon = Client(session, self.base)

    def as_app(self, creds: dict[str, Any], app_id: str | None = None) -> Client:
        """A client signing with credentials: a credentials post, or a token response."""
        if "access_token" in creds:
            return Client(
                self.session, self.base, Credentials(creds["access_token"], creds["hawk_key"]), app_id
            )
        return Client(self.session, self.base, Credentials(creds["id"], creds["content"]["hawk_key"]), app_id)

    def post_path(self, post_id: str, entity: str | None = None) -> str:
        return f"/posts/{quote(entity or self.entity, safe='')}/{quote(post_id, safe='')}"

    async def create(
        self, post_type: str = STATUS, content: Any = None, *, client: Client | None = None, **members: Any
    ) -> dict:
        body = {"type": post_type, **members}
        if content is not None:
            body["content"] = content
        resp = await (client or self.client).post(
            "/posts", json=body, headers={"Content-Type": f'{POST_MT}; type="{post_type}"'}
        )
        assert resp.status == 200, await resp.text()
        return (await resp.json())["post"]

    async def status(self, text: str, **members: Any) -> dict:
        return await self.create(STATUS, {"text": text}, **members)

    async def update(self, post: dict, content: Any, *, client: Client | None = None, **members: Any) -> dict:
        body = {
            "type": post["type"],
            "content": content,
            "version": {"parents": [{"version": post["version"]["id"]}]},
            **members,
        }
        resp = await (client or self.client).put(
            self.post_path(post["id"]),
            json=body,
            headers={"Content-Type": f'{POST_MT}; type="{post["type"]}"'},
        )
        assert resp.status == 200, await resp.text()
        return (await resp.json())["post"]

    async def feed(self, query: str = "", expect: int = 200, client: Client | None = None) -> dict:
        resp = await (client or self.client).get("/posts" + query)
        assert resp.status == expect, await resp.text()
        return await resp.json()

    async def close(self) -> None:
        await self.session.close()
        await self.server.close()


@pytest.fixture
async def make_server(
    new_database: Callable[[], Awaitable[str]], unused_tcp_port_factory: Callable[[], int]
) -> AsyncIterator[Callable[..., Awaitable[Tent]]]:
    started: list[Tent] = []

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
        server = TestServer(create_app(settings), host="127.0.0.1", port=settings.port)
        await server.start_server()
        owner = await ensure_owner_app(settings, server.app[POSTS])
        tent = Tent(server, aiohttp.ClientSession(), settings, owner)
        started.append(tent)
        return tent

    yield make
    for tent in started:
        await tent.close()


@pytest.fixture
async def tent(make_server: Callable[..., Awaitable[Tent]]) -> Tent:
    return await make_server()
