"""The floor: a bare aiohttp + asyncpg app doing the minimum work for the benchmarked requests.

    python bench/floor.py            (env FLOOR_DATABASE_URL, FLOOR_PORT, FLOOR_HOST)

POST /posts stores the request's JSON with one INSERT; GET /posts returns the 25 newest rows
as JSON with one indexed SELECT. Same pool size (10), JSON library and event loop policy
(uvloop when importable, as `tent serve` installs it) as the server it is compared with.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator

import asyncpg
import orjson
from aiohttp import web

POOL = web.AppKey("pool", asyncpg.Pool)

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    id          bigserial PRIMARY KEY,
    received_at bigint NOT NULL,
    data        jsonb  NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_received_at ON posts (received_at);
"""


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=lambda v: orjson.dumps(v).decode(),
                              decoder=orjson.loads, schema="pg_catalog")


async def new_post(request: web.Request) -> web.Response:
    data = orjson.loads(await request.read())
    post_id = await request.app[POOL].fetchval(
        "INSERT INTO posts (received_at, data) VALUES ($1, $2) RETURNING id",
        time.time_ns() // 1_000_000, data,
    )
    return web.Response(status=201, body=orjson.dumps({"id": post_id}), content_type="application/json")


async def feed(request: web.Request) -> web.Response:
    rows = await request.app[POOL].fetch("SELECT data FROM posts ORDER BY received_at DESC LIMIT 25")
    return web.Response(body=orjson.dumps({"posts": [r["data"] for r in rows]}),
                        content_type="application/json")


async def _database(app: web.Application) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ["FLOOR_DATABASE_URL"], min_size=1, max_size=10,
                                     init=_init_connection)
    async with pool.acquire() as conn:
        await conn.execute(SCHEMA)
    app[POOL] = pool
    yield
    await pool.close()


def main() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    app = web.Application()
    app.cleanup_ctx.append(_database)
    app.router.add_post("/posts", new_post)
    app.router.add_get("/posts", feed)
    web.run_app(app, host=os.environ.get("FLOOR_HOST", "127.0.0.1"),
                port=int(os.environ.get("FLOOR_PORT", "8090")), access_log=None, print=lambda *_: None)


if __name__ == "__main__":
    main()
