"""Why discovery of a recipient failed, in the delivery-failure vocabulary (§1.3 step 5,
§7.9): a connection failure or a status above 500 is `unreachable`; a missing or dead meta
link, or an invalid meta post, is `discovery_failed`. Entities here are real HTTP servers
on loopback that misbehave in one way each."""

from __future__ import annotations

import pytest
from aiohttp import web

from tent.core.media import REL_META_POST
from tent.delivery.client import HttpClient
from tent.delivery.discovery import Discovery, DiscoveryFailed
from tests.conftest import Tent
from tests.fed_helpers import deliveries, eventually

FAILURE = "https://tent.io/types/delivery-failure/v0"


def _entity(
    meta_status: int | None = None, root_status: int = 200, meta_body: dict | None = None
) -> web.Application:
    """An entity whose root answers `root_status` with a meta link (unless `meta_status` is
    None: no link at all), and whose meta post URL answers `meta_status` with `meta_body`."""

    async def root(request: web.Request) -> web.Response:
        headers = {}
        if meta_status is not None:
            headers["Link"] = f'</meta>; rel="{REL_META_POST}"'
        return web.Response(
            status=root_status, headers=headers, text="" if request.method == "HEAD" else "hi"
        )

    async def meta(_: web.Request) -> web.Response:
        assert meta_status is not None
        return web.json_response(meta_body or {"post": {"type": "nonsense"}}, status=meta_status)

    app = web.Application()
    app.router.add_route("*", "/", root)
    app.router.add_get("/meta", meta)
    return app


async def _reason(aiohttp_server, app: web.Application) -> str:
    server = await aiohttp_server(app)
    http = HttpClient(allow_private=True)
    try:
        with pytest.raises(DiscoveryFailed) as failed:
            await Discovery(http).meta(str(server.make_url("/")).rstrip("/"))
    finally:
        await http.close()
    return failed.value.reason


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_entity_answering_above_500_is_unreachable(aiohttp_server, status: int) -> None:
    assert await _reason(aiohttp_server, _entity(meta_status=200, root_status=status)) == "unreachable"


@pytest.mark.parametrize("status", [502, 503])
async def test_meta_link_answering_above_500_is_unreachable(aiohttp_server, status: int) -> None:
    assert await _reason(aiohttp_server, _entity(meta_status=status)) == "unreachable"


async def test_entity_without_a_meta_link_is_discovery_failed(aiohttp_server) -> None:
    assert await _reason(aiohttp_server, _entity(meta_status=None)) == "discovery_failed"


@pytest.mark.parametrize("status", [404, 410, 500])
async def test_dead_meta_link_is_discovery_failed(aiohttp_server, status: int) -> None:
    assert await _reason(aiohttp_server, _entity(meta_status=status)) == "discovery_failed"


async def test_invalid_meta_post_is_discovery_failed(aiohttp_server) -> None:
    assert await _reason(aiohttp_server, _entity(meta_status=200)) == "discovery_failed"


async def test_mentioned_entity_in_maintenance_gets_an_unreachable_failure_post(
    make_server, aiohttp_server
) -> None:
    alice: Tent = await make_server()
    down = await aiohttp_server(_entity(meta_status=200, root_status=503))
    entity = str(down.make_url("/")).rstrip("/")
    post = await alice.status("are you there?", mentions=[{"entity": entity}])

    async def failure_post():
        posts = (await alice.feed(f"?types={FAILURE}"))["posts"]
        return posts[0] if posts else None

    failure = await eventually(failure_post)
    assert failure["content"]["entity"] == entity
    assert failure["content"]["reason"] == "unreachable"
    [row] = await deliveries(alice, post["id"])
    assert row["last_error"] == "unreachable: 127.0.0.1 answered HTTP 503 Service Unavailable"
