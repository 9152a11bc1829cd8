"""Several `tent serve` processes on one database act as one server: a nonce one of them
accepted is refused by the others, a revoked grant stops working on all of them at once, and
every delivery is made once, in each recipient's order, whichever process sends it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import pytest
from aiohttp import web
from mohawk import Sender

from tent.auth.hawk import Credentials
from tests.conftest import POST_MT, STATUS, Client
from tests.processes import Served, free_port, owner_credentials, serve, tent_env

APP = "https://tent.io/types/app/v0#"
CREDS_REL = "https://tent.io/rels/credentials"
TOKEN_TYPE = "https://tent.io/oauth/hawk-token"


class Cluster:
    """Processes serving one entity from one database, and an owner client for each."""

    def __init__(self, env: dict[str, str], owner: dict[str, str], session: aiohttp.ClientSession) -> None:
        self.env, self.owner, self.session = env, owner, session
        self.entity = owner["entity"]
        self.served: list[Served] = []

    async def start(self, port: int | None = None) -> Served:
        served = await serve(self.env, port or free_port())
        self.served.append(served)
        return served

    def client(
        self, served: Served, creds: dict[str, str] | None = None, app_id: str | None = None
    ) -> Client:
        if creds is None:
            return Client(
                self.session,
                served.base,
                Credentials(self.owner["id"], self.owner["hawk_key"]),
                self.owner["app_id"],
            )
        return Client(self.session, served.base, Credentials(creds["id"], creds["hawk_key"]), app_id)

    def post_path(self, post_id: str) -> str:
        return f"/posts/{quote(self.entity, safe='')}/{quote(post_id, safe='')}"


@pytest.fixture
async def cluster(new_database) -> AsyncIterator[Cluster]:
    port = free_port()
    env = tent_env(
        TENT_DATABASE_URL=await new_database(),
        TENT_ENTITY=f"http://127.0.0.1:{port}",
        TENT_APP_APPROVAL="auto",
        TENT_ALLOW_PRIVATE_ADDRESSES="1",
        TENT_DELIVERY_RETRY_BASE="0.05",
    )
    owner = await owner_credentials(env)
    async with aiohttp.ClientSession() as session:
        c = Cluster(env, owner, session)
        await c.start(port)
        try:
            yield c
        finally:
            for served in c.served:
                await served.stop()
    for served in c.served:
        assert not any("Traceback" in line for line in served.log), "".join(served.log)


async def authorized_app(c: Cluster, served: Served, **content: object) -> tuple[dict, dict]:
    """Register an app, authorize it (test mode) and exchange the code: (app post, token)."""
    anon = Client(c.session, served.base)
    body = {
        "type": APP,
        "permissions": {"public": False},
        "content": {
            "name": "Two processes",
            "url": "https://app.example.com",
            "redirect_uri": "https://app.example.com/cb",
            "types": {"read": ["https://tent.io/types/status/v0"], "write": []},
            "scopes": [],
            **content,
        },
    }
    resp = await anon.post("/posts", json=body, headers={"Content-Type": f'{POST_MT}; type="{APP}"'})
    assert resp.status == 200, await resp.text()
    app = (await resp.json())["post"]
    link = re.fullmatch(r'<([^>]+)>; rel="([^"]+)"', resp.headers["Link"])
    assert link and link.group(2) == CREDS_REL
    creds = (await (await anon.get(link.group(1).removeprefix(served.base))).json())["post"]
    resp = await anon.get(f"/oauth/authorize?client_id={app['id']}&state=s")
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    app_client = c.client(served, {"id": creds["id"], "hawk_key": creds["content"]["hawk_key"]}, app["id"])
    resp = await app_client.post("/oauth/token", json={"code": code, "token_type": TOKEN_TYPE})
    assert resp.status == 200, await resp.text()
    token = await resp.json()
    return app, {"id": token["access_token"], "hawk_key": token["hawk_key"]}


async def test_a_nonce_accepted_by_one_process_is_refused_by_another(cluster: Cluster) -> None:
    a, b = cluster.served[0], await cluster.start()
    url = a.base + "/posts"  # the entity's own address: both processes verify this MAC
    header = Sender(
        {"id": cluster.owner["id"], "key": cluster.owner["hawk_key"], "algorithm": "sha256"},
        url,
        "GET",
        content="",
        content_type="",
        always_hash_content=False,
        app=cluster.owner["app_id"],
    ).request_header
    signed = {"Authorization": header, "Host": f"127.0.0.1:{a.port}"}
    async with cluster.session.get(url, headers=signed) as resp:
        assert resp.status == 200
    async with cluster.session.get(b.base + "/posts", headers=signed) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"] == "Authentication failure: Replayed nonce"
    async with cluster.session.get(url, headers=signed) as resp:
        assert resp.status == 403


async def test_a_deleted_grant_is_refused_at_once_by_every_process(cluster: Cluster) -> None:
    a, b = cluster.served[0], await cluster.start()
    app, token = await authorized_app(cluster, a)
    owner = cluster.client(a)
    resp = await owner.post(
        "/posts",
        json={"type": STATUS, "content": {"text": "for the app"}, "permissions": {"public": False}},
        headers={"Content-Type": f'{POST_MT}; type="{STATUS}"'},
    )
    secret = cluster.post_path((await resp.json())["post"]["id"])
    on_a, on_b = cluster.client(a, token, app["id"]), cluster.client(b, token, app["id"])
    for client in (on_a, on_b):  # both processes now hold the grant in their caches
        assert (await client.get(secret)).status == 200
    credentials = (await (await owner.get(cluster.post_path(token["id"]))).json())["post"]
    grant_id = credentials["mentions"][0]["post"]
    resp = await owner.delete(cluster.post_path(grant_id))
    assert resp.status == 200, await resp.text()
    for client in (on_b, on_a):  # no waiting: the revocation holds as soon as it is answered
        assert (await client.get(secret)).status == 403  # the key went with the grant (D-72)


class Hook:
    """An app's notification_url that records every post it is sent; while `gate` is closed
    it holds each request unanswered (the sender's delivery stays in flight)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.arrived: list[str] = []
        self.changed = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def handle(self, request: web.Request) -> web.Response:
        post = await request.json()
        self.arrived.append(post["content"]["text"])
        self.changed.set()
        await self.gate.wait()
        self.received.append(post["content"]["text"])
        self.changed.set()
        return web.Response(status=200)

    async def until(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            self.changed.clear()
            left = deadline - time.monotonic()
            assert left > 0, f"{len(self.received)} of {count} notifications arrived"
            await asyncio.wait_for(self.changed.wait(), left)


async def start_hook(aiohttp_server, hook: Hook) -> str:
    app = web.Application()
    app.router.add_put("/hook", hook.handle)
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}/hook"


async def all_delivered(c: Cluster, served: Served, post_ids: list[str]) -> None:
    """Wait until the outbox has recorded every delivery (nothing pending, nothing leased)."""
    owner = c.client(served)
    deadline = time.monotonic() + 60
    for post_id in post_ids:
        while True:
            rows = await (await owner.get(f"/deliveries?post={post_id}")).json()
            if all(r["state"] == "delivered" for r in rows["deliveries"]):
                break
            assert time.monotonic() < deadline, rows
            await asyncio.sleep(0.02)


async def test_posts_made_on_two_processes_reach_a_webhook_once_each_in_order(
    cluster: Cluster, aiohttp_server
) -> None:
    a, b = cluster.served[0], await cluster.start()
    hook = Hook()
    await authorized_app(
        cluster,
        a,
        notification_url=await start_hook(aiohttp_server, hook),
        notification_types=["https://tent.io/types/status/v0"],
    )
    clients = [cluster.client(a), cluster.client(b)]
    texts, ids = [], []
    for i in range(200):
        resp = await clients[i % 2].post(
            "/posts",
            json={"type": STATUS, "content": {"text": f"post {i}"}},
            headers={"Content-Type": f'{POST_MT}; type="{STATUS}"'},
        )
        assert resp.status == 200, await resp.text()
        texts.append(f"post {i}")
        ids.append((await resp.json())["post"]["id"])
    await hook.until(200)
    await all_delivered(cluster, a, ids)
    assert hook.received == texts  # each once, in the order the posts were made


async def test_a_process_starting_does_not_resend_what_another_is_sending(
    cluster: Cluster, aiohttp_server
) -> None:
    a = cluster.served[0]
    hook = Hook()
    hook.gate.clear()
    await authorized_app(
        cluster,
        a,
        notification_url=await start_hook(aiohttp_server, hook),
        notification_types=["https://tent.io/types/status/v0"],
    )
    owner, ids = cluster.client(a), []
    for i in range(3):
        resp = await owner.post(
            "/posts",
            json={"type": STATUS, "content": {"text": f"post {i}"}},
            headers={"Content-Type": f'{POST_MT}; type="{STATUS}"'},
        )
        ids.append((await resp.json())["post"]["id"])
    while not hook.arrived:  # the first delivery is now in flight, held by the hook
        hook.changed.clear()
        await asyncio.wait_for(hook.changed.wait(), 30)
    await cluster.start()  # its start must leave the first process's lease alone
    await asyncio.sleep(0.5)  # time for the new process to claim whatever it may
    assert hook.arrived == ["post 0"]
    hook.gate.set()
    await hook.until(3)
    await all_delivered(cluster, a, ids)
    assert hook.received == hook.arrived == ["post 0", "post 1", "post 2"]
