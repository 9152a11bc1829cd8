"""Permissions on every read path, for every kind of requester (docs/protocol.md §5, D-10, D-13,
D-23, D-26, D-35). Private posts, private versions and private mentions carry unique
markers; a requester may see a marker only if the matrix below says so, through any path."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from tests.app_helpers import authorize, register
from tests.conftest import STATUS, Client, Tent

ESSAY = "https://tent.io/types/essay/v0#"
PEER = "https://peer.example"
VERSIONS = "application/vnd.tent.post-versions.v0+json"
CHILDREN = "application/vnd.tent.post-children.v0+json"
MENTIONS = "application/vnd.tent.post-mentions.v0+json"
MARKERS = ("SECRET-STATUS-FOR-PEER", "SECRET-ESSAY", "PRIVATE-VERSION", "hidden.example", "SECRET-MENTIONER")
MATRIX = {
    "owner": set(MARKERS),
    "status_reader": {"SECRET-STATUS-FOR-PEER", "PRIVATE-VERSION", "hidden.example", "SECRET-MENTIONER"},
    "essay_reader": {"SECRET-ESSAY"},
    "no_read_app": set(),
    "app_credentials": set(),
    "peer": {"SECRET-STATUS-FOR-PEER"},
    "anonymous": set(),
}


@dataclass
class World:
    posts: list[dict]
    public: dict  # P: public v1, private v2
    public_v1: dict
    mentioner_public: dict  # public post with private mentions
    mentioner_private: dict  # private post mentioning P publicly
    refs_post: dict  # public post referencing private ones
    secret_status: dict
    clients: dict[str, Client]


async def build_world(tent: Tent) -> World:
    p1 = await tent.status("PUBLIC-V1")
    p2 = await tent.update(p1, {"text": "PRIVATE-VERSION"}, permissions={"public": False})
    secret_status = await tent.status(
        "SECRET-STATUS-FOR-PEER", permissions={"public": False, "entities": [PEER]}
    )
    secret_essay = await tent.create(ESSAY, {"body": "SECRET-ESSAY"}, permissions={"public": False})
    mentioner_public = await tent.status(
        "PUBLIC-WITH-PRIVATE-MENTION",
        mentions=[{"post": p1["id"], "public": False}, {"entity": "https://hidden.example", "public": False}],
    )
    mentioner_private = await tent.status(
        "SECRET-MENTIONER", permissions={"public": False}, mentions=[{"post": p1["id"]}]
    )
    refs_post = await tent.status(
        "PUBLIC-REFS", refs=[{"post": secret_status["id"]}, {"post": secret_essay["id"]}, {"post": p1["id"]}]
    )
    child = await tent.status(
        "PUBLIC-CHILD", version={"parents": [{"post": p1["id"], "version": p2["version"]["id"]}]}
    )

    # a relationship peer: our relationship post naming it, and the credentials we issued it
    rel = await tent.create(
        "https://tent.io/types/relationship/v0#",
        None,
        permissions={"public": False},
        mentions=[{"entity": PEER}],
    )
    key = secrets.token_hex(32)
    peer_creds = await tent.create(
        "https://tent.io/types/credentials/v0#https://tent.io/types/relationship/v0",
        {"hawk_key": key, "hawk_algorithm": "sha256"},
        permissions={"public": False},
        mentions=[{"post": rel["id"], "type": rel["type"]}],
    )
    app, app_creds = await register(tent)
    clients = {
        "owner": tent.client,
        "status_reader": await authorize(tent, [STATUS], []),
        "essay_reader": await authorize(tent, [ESSAY], []),
        "no_read_app": await authorize(tent, [], []),
        "app_credentials": tent.as_app(app_creds, app["id"]),
        "peer": tent.as_app(peer_creds),
        "anonymous": tent.anon,
    }
    return World(
        [p2, secret_status, secret_essay, mentioner_public, mentioner_private, refs_post, child],
        p2,
        p1,
        mentioner_public,
        mentioner_private,
        refs_post,
        secret_status,
        clients,
    )


async def read_everything(tent: Tent, world: World, client: Client) -> tuple[str, dict[str, int]]:
    """Every read path; returns all bodies concatenated and the status of each single GET."""
    bodies: list[str] = []
    statuses: dict[str, int] = {}

    async def get(path: str, accept: str | None = None) -> int:
        resp = await client.get(path, headers={"Accept": accept} if accept else None)
        bodies.append(await resp.text())
        head = await client.head(path, headers={"Accept": accept} if accept else None)
        assert head.status == resp.status
        if resp.status == 200 and "Count" in head.headers:
            listed = await resp.json()
            items = listed.get("posts") or listed.get("versions") or listed.get("mentions") or []
            if "limit=200" in path:
                assert int(head.headers["Count"]) == len(items), path  # counts never include hidden posts
        return resp.status

    await get("/posts?limit=200")
    await get("/posts?limit=200&max_refs=5")
    await get("/posts?limit=200&mentions=" + quote(f"{tent.entity} {world.public['id']}"))
    await get("/posts?limit=200&mentions=" + quote("https://hidden.example"))
    await get("/posts?limit=200&sort_by=version.received_at")
    for post in world.posts:
        path = tent.post_path(post["id"])
        statuses[post["id"]] = await get(path + "?max_refs=5")
        for accept in (VERSIONS, CHILDREN, MENTIONS):
            await get(path + "?limit=200", accept)
    for version in (world.public_v1, world.public):
        statuses[version["version"]["id"]] = await get(
            tent.post_path(version["id"]) + f"?version={version['version']['id']}"
        )
    await get(tent.post_path(world.public["id"]) + f"?version={world.public_v1['version']['id']}", CHILDREN)
    return "\n".join(bodies), statuses


@pytest.mark.parametrize("kind", list(MATRIX))
async def test_private_data_is_visible_only_to_who_may_read_it(tent: Tent, kind: str) -> None:
    world = await build_world(tent)
    text, statuses = await read_everything(tent, world, world.clients[kind])
    for marker in MARKERS:
        assert (marker in text) == (marker in MATRIX[kind]), f"{kind} and {marker}"
    # the public post is readable by everyone: its newest version they may read (D-10)
    assert statuses[world.public["id"]] == 200
    assert ("PUBLIC-V1" in text) is True
    expected_secret = 200 if "SECRET-STATUS-FOR-PEER" in MATRIX[kind] else 404
    assert statuses[world.secret_status["id"]] == expected_secret
    assert statuses[world.public["version"]["id"]] == (200 if "PRIVATE-VERSION" in MATRIX[kind] else 404)
    assert statuses[world.public_v1["version"]["id"]] == 200


async def test_readers_in_turn_on_one_server_each_see_only_what_they_may(tent: Tent) -> None:
    """The same world read by every kind of requester, one after another, on one process:
    nothing one of them was shown (and the server kept, D-98) reaches the next."""
    world = await build_world(tent)
    for kind in (*MATRIX, *reversed(MATRIX)):
        text, _ = await read_everything(tent, world, world.clients[kind])
        for marker in MARKERS:
            assert (marker in text) == (marker in MATRIX[kind]), f"{kind} and {marker}"


async def test_anonymous_sees_the_newest_public_version_in_feed_and_get(tent: Tent) -> None:
    world = await build_world(tent)
    feed = await tent.feed("?limit=200", client=tent.anon)
    shown = next(p for p in feed["posts"] if p["id"] == world.public["id"])
    assert shown["version"]["id"] == world.public_v1["version"]["id"]
    got = await (await tent.anon.get(tent.post_path(world.public["id"]))).json()
    assert got["post"]["version"]["id"] == world.public_v1["version"]["id"]
    assert "received_at" not in got["post"] and "received_at" not in got["post"]["version"]


async def test_private_post_is_404_for_anonymous_even_with_its_exact_version(tent: Tent) -> None:
    secret = await tent.status("x", permissions={"public": False})
    resp = await tent.anon.get(tent.post_path(secret["id"]) + f"?version={secret['version']['id']}")
    assert resp.status == 404 and await resp.json() == {"error": "Not Found"}


async def test_non_app_requesters_see_no_server_only_members(tent: Tent) -> None:
    post = await tent.status("p")
    app, app_creds = await register(tent)
    for client in (tent.anon, tent.as_app(app_creds, app["id"])):
        body = await (await client.get(tent.post_path(post["id"]))).json()
        assert "received_at" not in body["post"]
        assert "id" not in body["post"].get("app", {})


async def test_private_permissions_show_only_public_false_to_non_apps(tent: Tent) -> None:
    world = await build_world(tent)
    peer = world.clients["peer"]
    body = await (await peer.get(tent.post_path(world.secret_status["id"]))).json()
    assert body["post"]["permissions"] == {"public": False}
    owner = await (await tent.client.get(tent.post_path(world.secret_status["id"]))).json()
    assert owner["post"]["permissions"] == {"public": False, "entities": [PEER]}


async def test_anonymous_feed_is_only_our_own_entitys_public_posts(tent: Tent) -> None:
    world = await build_world(tent)
    feed = await tent.feed("?limit=200&entities=" + quote(PEER), client=tent.anon)
    assert feed["posts"] == []
    feed = await tent.feed("?limit=200", client=tent.anon)
    assert all("permissions" not in p for p in feed["posts"])
    assert world.secret_status["id"] not in {p["id"] for p in feed["posts"]}
