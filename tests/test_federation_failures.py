"""Peers that fail: one that answers 500 and then recovers, SSRF refusals, and a server
killed with `kill -9` while deliveries are pending (they all arrive after restart)."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from tent.delivery.client import GuardedResolver, HttpClient, RequestRefused
from tests.conftest import STATUS, Tent
from tests.fed_helpers import deliveries, eventually, stored_copy, subscribe, wait_copy, wait_delivered
from tests.processes import free_port as _free_port
from tests.processes import run_tent as _run
from tests.processes import serve
from tests.processes import tent_env as _env


class FlakyFront:
    """Stands in front of a real server at the entity's address; answers 500 to the first
    `failures` notifications (other than relationship offers), forwards everything else."""

    def __init__(self, backend_port: int, failures: int) -> None:
        self.backend = f"http://127.0.0.1:{backend_port}"
        self.failures = failures
        self.refused = 0
        self.session = aiohttp.ClientSession(auto_decompress=False)

    async def handle(self, request: web.Request) -> web.Response:
        ct = request.headers.get("Content-Type", "")
        if (
            request.method == "PUT"
            and "rels/notification" in ct
            and "#initial" not in ct
            and self.refused < self.failures
        ):
            self.refused += 1
            return web.Response(status=500, text="temporarily broken")
        body = await request.read()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding")
        }
        async with self.session.request(
            request.method,
            URL(self.backend + request.raw_path, encoded=True),
            data=body,
            headers=headers,
            allow_redirects=False,
        ) as resp:
            out = await resp.read()
            keep = {
                k: v
                for k, v in resp.headers.items()
                if k.lower()
                not in ("content-length", "transfer-encoding", "content-encoding", "date", "server")
            }
            return web.Response(status=resp.status, body=out, headers=keep)


async def test_peer_answering_500_is_retried_until_it_recovers(
    make_server, aiohttp_server, unused_tcp_port_factory
) -> None:
    front_port, back_port = unused_tcp_port_factory(), unused_tcp_port_factory()
    front = FlakyFront(back_port, failures=2)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", front.handle)
    await aiohttp_server(app, port=front_port)
    bob = await make_server(entity=f"http://127.0.0.1:{front_port}", port=back_port)
    alice = await make_server()
    try:
        post = await alice.status("hi bob", mentions=[{"entity": bob.entity}])
        row = await wait_delivered(alice, post["id"], bob.entity)
        assert front.refused == 2
        assert row["attempts"] >= 3
        copy = await wait_copy(bob, alice.entity, post["id"])
        assert copy["content"] == {"text": "hi bob"}
    finally:
        await front.session.close()


async def test_private_addresses_are_refused_unless_allowed(make_server) -> None:
    alice = await make_server(allow_private_addresses=False)
    resp = await alice.client.get("/discover?entity=http://127.0.0.1:1")
    assert resp.status == 404 and "private address" in (await resp.json())["error"]
    post = await alice.status("to loopback", mentions=[{"entity": "http://localhost:9"}])

    async def errored():
        rows = await deliveries(alice, post["id"])
        return rows if rows and rows[0]["last_error"] else None

    rows = await eventually(errored)
    assert "private address" in rows[0]["last_error"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest",
        "http://[::1]/",
        "http://224.0.0.1/",
        "ftp://example.org/",
        "http://0.0.0.0/",
    ],
)
async def test_guarded_client_refuses_private_and_odd_urls(url: str) -> None:
    client = HttpClient(allow_private=False)
    try:
        with pytest.raises(RequestRefused):
            client.check_url(url)
    finally:
        await client.close()


async def test_guarded_resolver_drops_private_results_after_dns() -> None:
    resolver = GuardedResolver(allow_private=False)
    try:
        with pytest.raises(OSError):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()
    allowed = GuardedResolver(allow_private=True)
    try:
        assert await allowed.resolve("localhost", 80)
    finally:
        await allowed.close()


async def test_redirect_to_a_private_address_is_refused(aiohttp_server) -> None:
    app = web.Application()

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://10.0.0.1/secret")

    app.router.add_get("/", redirect)
    server = await aiohttp_server(app)
    client = HttpClient(allow_private=True)
    client.allow_private = False  # the first hop is loopback (our test server); the redirect is checked
    try:
        client.check_url = _allow_loopback(client.check_url)  # type: ignore[method-assign]
        with pytest.raises(RequestRefused):
            await client.request("GET", f"http://127.0.0.1:{server.port}/")
    finally:
        await client.close()


def _allow_loopback(check):
    def wrapped(url: str):
        if url.startswith("http://127.0.0.1:"):
            from yarl import URL

            return URL(url, encoded=True)
        return check(url)

    return wrapped


async def test_pending_deliveries_survive_kill_9(new_database, make_server, unused_tcp_port_factory) -> None:
    """A server is killed with SIGKILL while its deliveries wait for a peer that is down;
    after a restart every one of them arrives."""
    bob_port = unused_tcp_port_factory()
    bob_entity = f"http://127.0.0.1:{bob_port}"
    port = _free_port()
    env = _env(
        TENT_DATABASE_URL=await new_database(),
        TENT_PORT=str(port),
        TENT_ALLOW_PRIVATE_ADDRESSES="1",
        TENT_DELIVERY_RETRY_BASE="0.2",
        TENT_APP_APPROVAL="auto",
    )
    owner = json.loads((await _run("credentials", "--json", env=env)).stdout)
    alice_entity = owner["entity"]
    served = await serve(env, port)
    proc = served.proc
    try:  # a failing request must not leave the process running
        from tent.auth.hawk import Credentials
        from tests.signing import sign

        creds = Credentials(owner["id"], owner["hawk_key"])
        ids = []
        async with aiohttp.ClientSession() as session:
            for i in range(5):
                mentions = [{"entity": bob_entity}]
                post = {"type": STATUS, "content": {"text": f"pending {i}"}, "mentions": mentions}
                body = json.dumps(post).encode()
                ct = f'application/vnd.tent.post.v0+json; type="{STATUS}"'
                url = f"http://127.0.0.1:{port}/posts"
                auth = sign(creds, "POST", url, body, ct, app=owner["app_id"])
                async with session.post(
                    url, data=body, headers={"Content-Type": ct, "Authorization": auth}
                ) as resp:
                    assert resp.status == 200
                    ids.append((await resp.json())["post"]["id"])
        await asyncio.sleep(0.5)  # a few failed attempts against the closed port
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        await served.stop()
    bob = await make_server(entity=bob_entity, port=bob_port)
    served = await serve(env, port)
    proc = served.proc
    try:
        for post_id in ids:
            await wait_copy(bob, alice_entity, post_id, timeout=30)
        texts = sorted([(await stored_copy(bob, alice_entity, i))["content"]["text"] for i in ids])
        assert texts == [f"pending {i}" for i in range(5)]
    finally:
        await served.stop()


async def test_three_servers_each_follow_the_others(make_server) -> None:
    servers: list[Tent] = [await make_server() for _ in range(3)]
    subs = []
    for follower in servers:
        for publisher in servers:
            if follower is not publisher:
                subs.append((follower, await subscribe(follower, publisher), publisher))
    for follower, sub, publisher in subs:
        await wait_delivered(follower, sub["id"], publisher.entity)
    posts = [await s.status(f"from {i}") for i, s in enumerate(servers)]
    for i, post in enumerate(posts):
        for j, other in enumerate(servers):
            if i != j:
                await wait_copy(other, servers[i].entity, post["id"])
