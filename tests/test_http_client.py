"""The outgoing HTTP client: redirects walked hop by hop, and bodies read up to a limit."""

from __future__ import annotations

import pytest
from aiohttp import web

from tent.delivery.client import MAX_REDIRECTS, HttpClient, RequestRefused


async def _serve(aiohttp_server, routes: web.RouteTableDef) -> str:
    app = web.Application()
    app.add_routes(routes)
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}"


async def test_a_303_after_a_put_is_followed_with_a_bodiless_get(aiohttp_server) -> None:
    routes = web.RouteTableDef()
    seen: list[tuple[str, bytes]] = []

    @routes.put("/start")
    async def start(request: web.Request) -> web.Response:
        seen.append((request.method, await request.read()))
        raise web.HTTPSeeOther("/done")

    @routes.get("/done")
    async def done(request: web.Request) -> web.Response:
        seen.append((request.method, await request.read()))
        return web.Response(text="arrived")

    base = await _serve(aiohttp_server, routes)
    client = HttpClient(allow_private=True)
    try:
        resp = await client.request("PUT", f"{base}/start", data=b"payload")
    finally:
        await client.close()
    assert (resp.status, resp.body, resp.url) == (200, b"arrived", f"{base}/done")
    assert seen == [("PUT", b"payload"), ("GET", b"")]


async def test_a_redirect_is_returned_as_is_when_not_followed(aiohttp_server) -> None:
    routes = web.RouteTableDef()

    @routes.put("/")
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    base = await _serve(aiohttp_server, routes)
    client = HttpClient(allow_private=True)
    try:
        resp = await client.request("PUT", f"{base}/", data=b"x", follow_redirects=False)
    finally:
        await client.close()
    assert resp.status == 302
    assert resp.headers["Location"] == "/elsewhere"


async def test_an_endless_redirect_chain_is_refused(aiohttp_server) -> None:
    routes = web.RouteTableDef()
    hops: list[int] = []

    @routes.get("/{n}")
    async def again(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        hops.append(n)
        raise web.HTTPTemporaryRedirect(f"/{n + 1}")

    base = await _serve(aiohttp_server, routes)
    client = HttpClient(allow_private=True)
    try:
        with pytest.raises(RequestRefused, match="too many redirects"):
            await client.request("GET", f"{base}/0")
    finally:
        await client.close()
    assert hops == list(range(MAX_REDIRECTS + 1))


async def test_a_body_beyond_the_limit_is_refused_without_a_length(aiohttp_server) -> None:
    routes = web.RouteTableDef()

    @routes.get("/")
    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(8):
            await resp.write(b"x" * 1024)
        await resp.write_eof()
        return resp

    base = await _serve(aiohttp_server, routes)
    client = HttpClient(allow_private=True)
    try:
        with pytest.raises(RequestRefused, match="larger than"):
            await client.request("GET", f"{base}/", max_bytes=4096)
        whole = await client.request("GET", f"{base}/", max_bytes=8192)
    finally:
        await client.close()
    assert whole.body == b"x" * 8192
