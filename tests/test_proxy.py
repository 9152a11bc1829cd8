"""Request proxying (§8) between real servers on loopback: profiles, refs, the
feed for foreign entities, attachments, who may make a server proxy, and upstream failures."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import aiohttp
import orjson

from tent.auth.hawk import Credentials
from tent.handlers.common import FEDERATION_STORE
from tests.conftest import POST_MT, STATUS, Client, Tent
from tests.fed_helpers import set_profile, subscribe, wait_copy, wait_delivered

PROXY = {"Cache-Control": "proxy"}
IF_MISS = {"Cache-Control": "proxy-if-miss"}
NO_PROXY = {"Cache-Control": "no-proxy"}


async def statuses(tent: Tent, *published: int) -> list[dict]:
    return [await tent.status(f"{tent.entity} at {ts}", published_at=ts) for ts in published]


async def peer_client(of: Tent, peer: Tent) -> Client:
    """A client signing with the relationship credentials `of` issued to `peer`: what the
    peer's server would send."""
    rel = await peer.server.app[FEDERATION_STORE].relationship(of.entity)
    assert rel is not None and rel.remote_credentials
    creds = rel.remote_credentials
    return Client(of.session, of.base, Credentials(creds["id"], creds["hawk_key"]))


# -- profiles -------------------------------------------------------------------------------


async def test_feed_profiles_of_foreign_entities_are_discovered_when_proxying_is_asked(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    await set_profile(alice, {"name": "Alice", "bio": "origin"})
    await set_profile(bob, {"name": "Bob"})
    their = await alice.status("original")
    await bob.status("see this", refs=[{"entity": alice.entity, "post": their["id"]}])

    # the feed does not proxy by default: no stored meta post, no relationship, nothing cached
    feed = await bob.feed("?profiles=entity,refs")
    assert feed["profiles"] == {bob.entity: {"name": "Bob"}}
    resp = await bob.client.get("/posts?profiles=entity,refs", headers=IF_MISS)
    assert resp.status == 200
    assert (await resp.json())["profiles"] == {
        bob.entity: {"name": "Bob"},
        alice.entity: {"name": "Alice", "bio": "origin"},
    }
    # once discovered, the cached meta post serves requests that do not proxy
    feed = await bob.feed("?profiles=refs")
    assert feed["profiles"] == {alice.entity: {"name": "Alice", "bio": "origin"}}
    # anonymous requests get no profiles at all
    anon = await bob.feed("?profiles=refs", client=bob.anon)
    assert "profiles" not in anon


async def test_profiles_come_from_the_meta_post_a_relationship_delivered(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    sub = await subscribe(bob, alice)
    await wait_delivered(bob, sub["id"], alice.entity)
    meta = await set_profile(alice, {"name": "Alice, related"})
    await wait_copy(bob, alice.entity, meta["id"], meta["version"]["id"])
    post = await alice.status("for subscribers")
    await wait_copy(bob, alice.entity, post["id"])
    await alice.server.close()  # nothing may be asked of alice's server now
    resp = await bob.client.get("/posts?entities=" + quote(alice.entity) + "&profiles=entity", headers=PROXY)
    assert resp.status == 502  # `proxy` really asks alice's server for her feed...
    feed = await bob.feed("?entities=" + quote(alice.entity) + "&profiles=entity")
    assert feed["posts"][0]["id"] == post["id"]  # ...the default answers from copies
    assert feed["profiles"] == {alice.entity: {"name": "Alice, related"}}


async def test_single_post_profiles_are_discovered_by_default(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    await set_profile(alice, {"name": "Alice"})
    mine = await bob.status("hi", mentions=[{"entity": alice.entity}], permissions={"public": False})
    resp = await bob.client.get(bob.post_path(mine["id"]) + "?profiles=mentions")
    assert resp.status == 200
    assert (await resp.json())["profiles"] == {alice.entity: {"name": "Alice"}}
    resp = await bob.client.get(bob.post_path(mine["id"]) + "?profiles=bogus")
    assert resp.status == 400


# -- refs -----------------------------------------------------------------------------------


async def test_refs_to_foreign_posts_not_stored_here_are_fetched_from_their_server(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    their = await alice.status("referenced")
    secret = await alice.status("not for bob", permissions={"public": False})
    mine = await bob.status(
        "look",
        refs=[{"entity": alice.entity, "post": their["id"]}, {"entity": alice.entity, "post": secret["id"]}],
    )
    path = bob.post_path(mine["id"]) + "?max_refs=5"
    # a single post proxies its refs by default (proxy-if-miss); alice hides her private post
    body = await (await bob.client.get(path)).json()
    assert [(r["entity"], r["id"], r["content"]) for r in body["refs"]] == [
        (alice.entity, their["id"], {"text": "referenced"})
    ]
    assert (await (await bob.client.get(path, headers=NO_PROXY)).json())["refs"] == []
    # the feed proxies refs only when asked to
    assert (await bob.feed("?max_refs=1"))["refs"] == []
    resp = await bob.client.get("/posts?max_refs=1", headers=IF_MISS)
    assert [r["id"] for r in (await resp.json())["refs"]] == [their["id"]]
    # a pinned version is asked for as such
    v2 = await alice.update(their, {"text": "edited"})
    ref = {"entity": alice.entity, "post": their["id"], "version": their["version"]["id"]}
    pinned = await bob.status("pinned", refs=[ref])
    body = await (await bob.client.get(bob.post_path(pinned["id"]) + "?max_refs=1")).json()
    assert [r["version"]["id"] for r in body["refs"]] == [their["version"]["id"]]
    body = await (await bob.client.get(path, headers=PROXY)).json()
    assert [r["version"]["id"] for r in body["refs"]] == [v2["version"]["id"]]


# -- the feed for foreign entities -----------------------------------------------------------


async def test_feed_with_proxy_merges_foreign_feeds_newest_first_by_the_sort_key(make_server) -> None:
    alice, bob, carol = await make_server(), await make_server(), await make_server()
    posts = [
        *await statuses(alice, 1000, 4000, 7000),
        *await statuses(carol, 2000, 5000, 8000),
        *await statuses(bob, 3000, 6000),
    ]
    every = sorted(posts, key=lambda p: p["published_at"], reverse=True)
    entities = quote(",".join([alice.entity, carol.entity, bob.entity]))
    query = f"?entities={entities}&sort_by=published_at&types={quote(STATUS)}&limit=3"

    seen: list[dict] = []
    path: str | None = "/posts" + query
    while path:
        resp = await bob.client.get(path, headers=PROXY)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        assert len(page["posts"]) <= 3
        seen.extend(page["posts"])
        path = "/posts" + page["pages"]["next"] if "next" in page["pages"] else None
    assert [p["published_at"] for p in seen] == [p["published_at"] for p in every]
    assert [(p["entity"], p["id"]) for p in seen] == [(p["entity"], p["id"]) for p in every]

    # a `since` page holds the posts nearest the point, still newest first
    resp = await bob.client.get(f"/posts{query}&since=2000", headers=PROXY)
    assert [p["published_at"] for p in (await resp.json())["posts"]] == [5000, 4000, 3000]
    # HEAD counts every source
    resp = await bob.client.head("/posts" + query, headers=PROXY)
    assert resp.headers["Count"] == "8"
    # without `proxy` the feed answers from what is stored here: bob's own posts
    feed = await bob.feed(query.replace("limit=3", "limit=10"))
    assert {p["entity"] for p in feed["posts"]} == {bob.entity}


# -- attachments ----------------------------------------------------------------------------


async def upload(tent: Tent, data: bytes, name: str = "photo.png", content_type: str = "image/png") -> dict:
    writer = aiohttp.MultipartWriter("form-data")
    post_type = "https://tent.io/types/photo/v0#"
    headers = {"Content-Type": f'{POST_MT}; type="{post_type}"'}
    part = writer.append(orjson.dumps({"type": post_type}), headers)
    part.set_content_disposition("form-data", name="post", filename="post.json")
    part = writer.append(data, {"Content-Type": content_type})
    part.set_content_disposition("form-data", name="photo[0]", filename=name)
    resp = await tent.client.post("/posts", data=writer, headers={"Content-Type": writer.content_type})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["post"]


async def test_foreign_attachments_are_streamed_through_and_post_attachment_redirects_here(
    make_server,
) -> None:
    alice, bob = await make_server(), await make_server()
    data = bytes(range(256)) * 3000
    post = await upload(alice, data)
    digest = post["attachments"][0]["digest"]
    resp = await bob.client.get(f"/posts/{quote(alice.entity, safe='')}/{post['id']}/attachments/photo.png")
    assert resp.status == 302
    assert resp.headers["Attachment-Digest"] == digest
    location = resp.headers["Location"]
    assert location.startswith(bob.entity + "/attachments/") and location.endswith("/" + digest)
    resp = await bob.client.get(location[len(bob.entity) :])
    assert resp.status == 200
    assert await resp.read() == data
    assert resp.headers["Content-Type"] == "image/png"
    assert "Server-Authorization" in resp.headers
    resp = await bob.client.get(location[len(bob.entity) :], headers={"Range": "bytes=10-19"})
    assert resp.status == 206 and await resp.read() == data[10:20]
    # no-proxy: bob holds no copy of the bytes
    assert (await bob.client.get(location[len(bob.entity) :], headers=NO_PROXY)).status == 404
    # an unknown name is the origin's 404, passed through
    resp = await bob.client.get(f"/posts/{quote(alice.entity, safe='')}/{post['id']}/attachments/nope")
    assert resp.status == 404


# -- who may make us proxy ------------------------------------------------------------------


async def test_anonymous_requests_and_relationship_peers_cannot_make_the_server_proxy(make_server) -> None:
    alice, bob, carol = await make_server(), await make_server(), await make_server()
    sub = await subscribe(alice, bob)
    await wait_delivered(alice, sub["id"], bob.entity)
    peer = await peer_client(bob, alice)  # alice's server, signing as bob's peer
    public = await carol.status("carol's public post")
    photo = await upload(carol, b"carol's bytes")
    digest = photo["attachments"][0]["digest"]
    carol_q = quote(carol.entity, safe="")
    for client in (bob.anon, peer):
        resp = await client.get(bob.post_path(public["id"], carol.entity), headers=PROXY)
        assert resp.status == 404
        resp = await client.get(f"/attachments/{carol_q}/{digest}", headers=PROXY)
        assert resp.status == 404
        resp = await client.get(f"/posts/{carol_q}/{photo['id']}/attachments/photo.png", headers=PROXY)
        assert resp.status == 404
        resp = await client.get("/posts?entities=" + quote(carol.entity), headers=PROXY)
        assert resp.status == 200 and (await resp.json())["posts"] == []
    # the owner's app may
    resp = await bob.client.get("/posts?entities=" + quote(carol.entity), headers=PROXY)
    assert {photo["id"], public["id"]} <= {p["id"] for p in (await resp.json())["posts"]}


async def test_proxied_requests_are_signed_with_the_relationship_credentials(make_server) -> None:
    alice, bob = await make_server(), await make_server()
    sub = await subscribe(bob, alice)
    await wait_delivered(bob, sub["id"], alice.entity)
    # shared with bob only: alice answers it only to a request signed as bob
    secret = await alice.status("for bob", permissions={"public": False, "entities": [bob.entity]})
    await wait_copy(bob, alice.entity, secret["id"])
    resp = await bob.client.get("/posts?entities=" + quote(alice.entity), headers=PROXY)
    assert secret["id"] in [p["id"] for p in (await resp.json())["posts"]]
    resp = await bob.client.get(bob.post_path(secret["id"], alice.entity), headers=PROXY)
    assert resp.status == 200


# -- upstream failures ----------------------------------------------------------------------


async def test_unreachable_upstream_is_502_and_a_silent_one_504_naming_the_url(make_server) -> None:
    alice, bob = await make_server(), await make_server(outgoing_timeout=1.0)
    post = await alice.status("soon unreachable")
    assert (await bob.client.get(bob.post_path(post["id"], alice.entity))).status == 200  # discovered
    await alice.server.close()
    url = f"{alice.entity}/posts/{quote(alice.entity, safe='')}/{post['id']}"
    resp = await bob.client.get(bob.post_path(post["id"], alice.entity), headers=PROXY)
    assert resp.status == 502
    assert await resp.json() == {"error": f"Failed to proxy request: GET {url}"}
    resp = await bob.client.get("/posts?entities=" + quote(alice.entity), headers=PROXY)
    assert resp.status == 502
    assert (await resp.json())["error"].startswith(f"Failed to proxy request: GET {alice.entity}/posts?")

    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)  # takes the request, never answers
        await done.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", alice.settings.port)
    try:
        resp = await bob.client.get(bob.post_path(post["id"], alice.entity), headers=PROXY)
        assert resp.status == 504
        assert await resp.json() == {"error": f"Failed to proxy request: GET {url}"}
        resp = await bob.client.get(f"/attachments/{quote(alice.entity, safe='')}/{'0' * 64}")
        assert resp.status == 504
    finally:
        done.set()
        server.close()
        await server.wait_closed()
