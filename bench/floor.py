"""The floor: a bare aiohttp + asyncpg app doing the minimum work for the benchmarked requests.

    python bench/floor.py   (env FLOOR_DATABASE_URL, FLOOR_PORT, FLOOR_HOST; FLOOR_HAWK_ID and
                             FLOOR_HAWK_KEY to check signed requests)

One SQL statement per request, nothing else touches the database:

- POST /posts stores the request's JSON with one INSERT;
- GET /posts returns the 25 newest rows as JSON with one indexed SELECT;
- GET /posts/{id} returns one row by its primary key.

A request with `Authorization: Hawk ...` is checked with the same pure functions ours uses
(`tent.auth.hawk`: MAC, timestamp, payload hash when claimed) against the one key given in the
environment, and its response gets a `Server-Authorization` with a payload hash, so the signed
scenarios price what ours adds beyond the cryptography: the credentials lookup, the shared
nonce check, the principal and its permission checks. Same pool size (10), JSON codec and
event loop policy (uvloop when importable, as `tent serve` installs it) as ours.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator

import asyncpg
import orjson
from aiohttp import web

from tent.auth.hawk import (
    Credentials,
    HawkError,
    RequestAuth,
    parse_authorization,
    sign_response,
    verify_request,
)

POOL = web.AppKey("pool", asyncpg.Pool)
HAWK_KEY = web.AppKey("hawk", Credentials)
SIGNED = web.RequestKey("signed", RequestAuth)

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    id          bigserial PRIMARY KEY,
    received_at bigint NOT NULL,
    data        jsonb  NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_received_at ON posts (received_at);
"""


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
    )


def _host_port(request: web.Request) -> tuple[str, int]:
    name, _, port = (request.host or "").rpartition(":")
    return name, int(port or 80)


@web.middleware
async def hawk(request: web.Request, handler: object) -> web.StreamResponse:
    """Verify a Hawk header (400/401/403 on failure); anonymous requests pass untouched."""
    header = request.headers.get("Authorization")
    if header:
        auth = parse_authorization(header)
        creds = request.app[HAWK_KEY]
        if auth.id != creds.id:
            return web.json_response({"error": "Unidentified id"}, status=401)
        body = await request.read() if auth.hash is not None else None
        host, port = _host_port(request)
        try:
            verify_request(
                auth,
                creds,
                method=request.method,
                uri=request.raw_path,
                host=host,
                port=port,
                content=body,
                content_type=request.headers.get("Content-Type"),
                now=time.time(),
            )
        except HawkError as exc:
            return web.json_response(exc.body(), status=exc.status)
        request[SIGNED] = auth
    return await handler(request)  # type: ignore[operator]


async def _sign(request: web.Request, response: web.StreamResponse) -> None:
    auth = request.get(SIGNED)
    if auth is None or not isinstance(response, web.Response):
        return
    host, port = _host_port(request)
    body = response.body if isinstance(response.body, bytes) else None
    response.headers["Server-Authorization"] = sign_response(
        auth,
        request.app[HAWK_KEY],
        method=request.method,
        uri=request.raw_path,
        host=host,
        port=port,
        content=body,
        content_type=response.headers.get("Content-Type") if body else None,
    )


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


async def new_post(request: web.Request) -> web.Response:
    data = orjson.loads(await request.read())
    post_id = await request.app[POOL].fetchval(
        "INSERT INTO posts (received_at, data) VALUES ($1, $2) RETURNING id",
        time.time_ns() // 1_000_000,
        data,
    )
    return _json({"post": {"id": post_id}}, 200)


async def feed(request: web.Request) -> web.Response:
    rows = await request.app[POOL].fetch("SELECT data FROM posts ORDER BY received_at DESC LIMIT 25")
    return _json({"posts": [r["data"] for r in rows]})


async def one_post(request: web.Request) -> web.Response:
    try:
        post_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    data = await request.app[POOL].fetchval("SELECT data FROM posts WHERE id = $1", post_id)
    if data is None:
        raise web.HTTPNotFound()
    return _json({"post": data})


async def _database(app: web.Application) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(
        os.environ["FLOOR_DATABASE_URL"], min_size=1, max_size=10, init=_init_connection
    )
    async with pool.acquire() as conn:
        await conn.execute(SCHEMA)
    app[POOL] = pool
    yield
    await pool.close()


def main() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    app = web.Application(middlewares=[hawk])
    app[HAWK_KEY] = Credentials(os.environ.get("FLOOR_HAWK_ID", ""), os.environ.get("FLOOR_HAWK_KEY", ""))
    app.cleanup_ctx.append(_database)
    app.on_response_prepare.append(_sign)
    app.router.add_post("/posts", new_post)
    app.router.add_get("/posts", feed)
    app.router.add_get("/posts/{id}", one_post)
    web.run_app(
        app,
        host=os.environ.get("FLOOR_HOST", "127.0.0.1"),
        port=int(os.environ.get("FLOOR_PORT", "8090")),
        access_log=None,
        print=lambda *_: None,
    )


if __name__ == "__main__":
    main()
