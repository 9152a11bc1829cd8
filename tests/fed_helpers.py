"""Helpers for tests with several servers on loopback: following, waiting for deliveries."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

from aiohttp import web

from tent.core.types import base_version
from tent.store.federation import Delivery
from tests.conftest import POST_MT, Tent

SUBSCRIPTION = "https://tent.io/types/subscription/v0#"


def delivery_row(n: int, version: str = "v1") -> Delivery:
    """An outbox row of our post `post` for peer n, as a claim returns it."""
    return Delivery(
        id=n,
        kind="entity",
        target=f"https://peer{n}.example",
        post_entity="https://me.example",
        post_id="post",
        version_id=version,
        mentioned=False,
        state="pending",
        attempts=1,
        next_attempt_at=0,
        created_at=0,
        delivered_at=None,
        last_error=None,
        reported=False,
    )


async def eventually(check, timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Poll `check` (async, returns a truthy value when done) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def subscribe(
    follower: Tent, publisher: Tent, selector: str = "https://tent.io/types/status/v0"
) -> dict:
    base = base_version(selector)
    post_type = SUBSCRIPTION + base
    return await follower.create(
        post_type,
        {"type": selector},
        mentions=[{"entity": publisher.entity}],
        permissions={"public": False, "entities": [publisher.entity]},
    )


async def deliveries(tent: Tent, post_id: str) -> list[dict]:
    resp = await tent.client.get(f"/deliveries?post={quote(post_id)}")
    assert resp.status == 200, await resp.text()
    return (await resp.json())["deliveries"]


async def wait_delivered(tent: Tent, post_id: str, target: str, timeout: float = 15.0) -> dict:
    async def check():
        for d in await deliveries(tent, post_id):
            if d["target"] == target and d["state"] == "delivered":
                return d
        return None

    return await eventually(check, timeout)


async def stored_copy(tent: Tent, entity: str, post_id: str) -> dict | None:
    resp = await tent.client.get(tent.post_path(post_id, entity), headers={"Cache-Control": "no-proxy"})
    return (await resp.json())["post"] if resp.status == 200 else None


async def wait_copy(
    tent: Tent, entity: str, post_id: str, version: str | None = None, timeout: float = 15.0
) -> dict:
    async def check():
        post = await stored_copy(tent, entity, post_id)
        if post and (version is None or post["version"]["id"] == version):
            return post
        return None

    return await eventually(check, timeout)


def ct(post_type: str) -> dict[str, str]:
    return {"Content-Type": f'{POST_MT}; type="{post_type}"'}


async def meta_post(tent: Tent) -> dict:
    """The server's own meta post, found the way others find it (the entity's Link)."""
    link = (await tent.anon.head("/")).headers["Link"]
    meta_id = link.split(">")[0].rsplit("/", 1)[1]
    resp = await tent.client.get(tent.post_path(meta_id))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["post"]


async def set_profile(tent: Tent, profile: dict) -> dict:
    meta = await meta_post(tent)
    return await tent.update(meta, {**meta["content"], "profile": profile})


class Hook:
    """An app's notification endpoint that can be put into maintenance (503)."""

    def __init__(self) -> None:
        self.status = 503
        self.retry_after: str | None = None
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.auth: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.status != 200:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.Response(status=self.status, headers=headers)
        self.received.append(await request.json())
        self.auth.append(request.headers.get("Authorization", ""))
        return web.Response(status=200)


async def start_hook(aiohttp_server) -> tuple[Hook, str]:
    hook = Hook()
    app = web.Application()
    app.router.add_put("/hook", hook.handle)
    server = await aiohttp_server(app)
    return hook, f"http://127.0.0.1:{server.port}/hook"
