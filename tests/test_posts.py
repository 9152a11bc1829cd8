"""Creating, reading, versioning and deleting posts (docs/protocol.md §3.1–§3.4)."""

from __future__ import annotations

import re
import time

from tent.canonical import version_id
from tests.conftest import POST_MT, STATUS, Tent

PHOTO = "https://tent.io/types/photo/v0#"
DELETE = "https://tent.io/types/delete/v0#"


def _ct(post_type: str) -> dict[str, str]:
    return {"Content-Type": f'{POST_MT}; type="{post_type}"'}


async def test_new_post_sets_every_server_member(tent: Tent) -> None:
    before = int(time.time() * 1000)
    resp = await tent.client.post(
        "/posts", json={"type": STATUS, "content": {"text": "hello"}}, headers=_ct(STATUS)
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == f'{POST_MT}; type="{STATUS}"'
    post = (await resp.json())["post"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", post["id"])
    assert post["entity"] == tent.entity
    assert before <= post["published_at"] == post["received_at"] <= int(time.time() * 1000)
    version = post["version"]
    assert version["published_at"] == post["published_at"]
    assert version["received_at"] == post["received_at"]
    assert version["id"] == version_id(post)
    assert "permissions" not in post


async def test_new_post_ignores_server_members_sent_by_the_app(tent: Tent) -> None:
    body = {
        "type": STATUS,
        "content": {"text": "x"},
        "id": "mine",
        "entity": "https://evil.example",
        "received_at": 5,
        "app": {"name": "fake", "url": "https://fake.example"},
        "version": {"received_at": 7},
    }
    resp = await tent.client.post("/posts", json=body, headers=_ct(STATUS))
    assert resp.status == 200
    post = (await resp.json())["post"]
    assert post["id"] != "mine" and post["entity"] == tent.entity
    assert post["received_at"] != 5 and post["version"]["received_at"] != 7
    assert post["app"] == {"id": tent.owner["app_id"], "name": "Owner", "url": tent.entity}


async def test_app_may_set_published_at(tent: Tent) -> None:
    post = await tent.status("old", published_at=1372435713273)
    assert post["published_at"] == 1372435713273
    assert post["version"]["published_at"] == 1372435713273


async def test_supplied_version_id_is_verified(tent: Tent) -> None:
    body = {
        "type": STATUS,
        "content": {"text": "x"},
        "published_at": 1,
        "version": {"published_at": 1, "id": "0" * 64},
    }
    resp = await tent.client.post("/posts", json=body, headers=_ct(STATUS))
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("Invalid version id. Got(" + "0" * 64)


async def test_get_post_returns_the_stored_post(tent: Tent) -> None:
    created = await tent.status("read me")
    resp = await tent.client.get(tent.post_path(created["id"]))
    assert resp.status == 200
    assert (await resp.json())["post"] == created
    assert resp.headers["Vary"] == "Accept"
    assert resp.headers["ETag"].startswith('"')


async def test_get_post_accepts_an_unencoded_entity_in_the_path(tent: Tent) -> None:
    created = await tent.status("raw")
    resp = await tent.client.get(f"/posts/{tent.entity}/{created['id']}")
    assert resp.status == 200
    assert (await resp.json())["post"]["id"] == created["id"]


async def test_unknown_post_is_404_with_json_error(tent: Tent) -> None:
    resp = await tent.client.get(tent.post_path("nope"))
    assert resp.status == 404
    assert resp.headers["Content-Type"].startswith("application/vnd.tent.error.v0+json")
    assert await resp.json() == {"error": "Not Found"}


async def test_if_none_match_gives_304_with_etag(tent: Tent) -> None:
    created = await tent.status("cache me")
    first = await tent.client.get(tent.post_path(created["id"]))
    etag = first.headers["ETag"]
    again = await tent.client.get(tent.post_path(created["id"]), headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.headers["ETag"] == etag
    assert await again.read() == b""


async def test_put_creates_a_new_version_with_parents(tent: Tent) -> None:
    first = await tent.status("v1", published_at=1000)
    second = await tent.update(first, {"text": "v2"})
    assert second["id"] == first["id"]
    assert second["published_at"] == 1000  # post-level times stay those of the post (D-09)
    assert second["received_at"] == first["received_at"]
    assert second["version"]["parents"] == [{"version": first["version"]["id"]}]
    assert second["version"]["published_at"] >= first["version"]["published_at"]
    assert second["version"]["id"] == version_id(second) != first["version"]["id"]
    latest = await tent.client.get(tent.post_path(first["id"]))
    assert (await latest.json())["post"]["content"] == {"text": "v2"}
    old = await tent.client.get(tent.post_path(first["id"]) + f"?version={first['version']['id']}")
    assert (await old.json())["post"]["content"] == {"text": "v1"}


async def test_put_without_parents_is_rejected(tent: Tent) -> None:
    first = await tent.status("v1")
    resp = await tent.client.put(
        tent.post_path(first["id"]), json={"type": STATUS, "content": {"text": "v2"}}, headers=_ct(STATUS)
    )
    assert resp.status == 400
    assert await resp.json() == {"error": "Parent version not specified"}


async def test_put_of_unknown_post_is_404(tent: Tent) -> None:
    resp = await tent.client.put(
        tent.post_path("missing"),
        headers=_ct(STATUS),
        json={"type": STATUS, "content": {"text": "x"}, "version": {"parents": [{"version": "a" * 64}]}},
    )
    assert resp.status == 404


async def test_put_with_wrong_content_type_is_415(tent: Tent) -> None:
    first = await tent.status("v1")
    resp = await tent.client.put(
        tent.post_path(first["id"]),
        headers={"Content-Type": "application/json"},
        json={
            "type": STATUS,
            "content": {"text": "x"},
            "version": {"parents": [{"version": first["version"]["id"]}]},
        },
    )
    assert resp.status == 415


async def test_delete_post_removes_every_version_and_publishes_a_delete_post(tent: Tent) -> None:
    first = await tent.status("bye", mentions=[{"entity": "https://bob.example"}])
    await tent.update(first, {"text": "bye 2"}, mentions=[{"entity": "https://bob.example"}])
    resp = await tent.client.delete(tent.post_path(first["id"]))
    assert resp.status == 200
    assert resp.headers["Content-Type"] == f'{POST_MT}; type="{DELETE}"'
    record = (await resp.json())["post"]
    assert record["type"] == DELETE
    assert record["refs"] == [{"post": first["id"]}]
    assert record["mentions"] == [{"entity": "https://bob.example"}]
    assert (await tent.client.get(tent.post_path(first["id"]))).status == 404
    assert (await tent.client.get(tent.post_path(record["id"]))).status == 200


async def test_delete_post_of_a_private_post_is_private_too(tent: Tent) -> None:
    secret = await tent.status("shh", permissions={"public": False, "entities": ["https://bob.example"]})
    resp = await tent.client.delete(tent.post_path(secret["id"]))
    record = (await resp.json())["post"]
    assert record["permissions"] == {"public": False, "entities": ["https://bob.example"]}


async def test_delete_with_create_delete_post_false_answers_empty(tent: Tent) -> None:
    first = await tent.status("quiet")
    resp = await tent.client.delete(tent.post_path(first["id"]), headers={"Create-Delete-Post": "false"})
    assert resp.status == 200
    assert await resp.read() == b""
    feed = await tent.feed(f"?types={DELETE}")
    assert feed["posts"] == []


async def test_delete_one_version_leaves_the_previous_one(tent: Tent) -> None:
    first = await tent.status("v1")
    second = await tent.update(first, {"text": "v2"})
    resp = await tent.client.delete(tent.post_path(first["id"]) + f"?version={second['version']['id']}")
    assert resp.status == 200
    record = (await resp.json())["post"]
    assert record["refs"] == [{"post": first["id"], "version": second["version"]["id"]}]
    latest = await tent.client.get(tent.post_path(first["id"]))
    assert (await latest.json())["post"]["version"]["id"] == first["version"]["id"]
    feed = await tent.feed(f"?types={STATUS}")
    assert [p["version"]["id"] for p in feed["posts"]] == [first["version"]["id"]]


async def test_delete_of_unknown_post_is_404(tent: Tent) -> None:
    assert (await tent.client.delete(tent.post_path("missing"))).status == 404


async def test_private_post_keeps_its_permissions_for_the_owner(tent: Tent) -> None:
    post = await tent.status("private", permissions={"entities": ["https://bob.example"]})
    assert post["permissions"] == {"public": False, "entities": ["https://bob.example"]}


async def test_mentions_and_refs_omit_our_own_entity(tent: Tent) -> None:
    target = await tent.status("target")
    post = await tent.status("reply", mentions=[{"post": target["id"]}], refs=[{"post": target["id"]}])
    assert post["mentions"] == [{"post": target["id"]}]
    assert post["refs"] == [{"post": target["id"]}]


async def test_unknown_types_are_accepted_without_content_checks(tent: Tent) -> None:
    post = await tent.create("https://example.org/types/fictitious/v0#", {"anything": [1, {"x": None}]})
    assert post["content"] == {"anything": [1, {"x": None}]}


async def test_import_stores_a_complete_post_verbatim(tent: Tent) -> None:
    body = {
        "id": "imported1",
        "entity": tent.entity,
        "type": STATUS,
        "content": {"text": "old"},
        "published_at": 10,
        "received_at": 11,
        "version": {"published_at": 12, "received_at": 13},
    }
    body["version"]["id"] = version_id(body)
    resp = await tent.client.put(
        tent.post_path("imported1"),
        json=body,
        headers={"Content-Type": f'{POST_MT}; type="{STATUS}"; rel="https://tent.io/rels/import"'},
    )
    assert resp.status == 200, await resp.text()
    post = (await resp.json())["post"]
    assert (post["published_at"], post["received_at"]) == (10, 11)
    assert post["version"] == body["version"]


async def test_notification_without_relationship_credentials_is_refused(tent: Tent) -> None:
    resp = await tent.client.put(
        tent.post_path("x", "https://other.example"),
        headers={"Content-Type": f'{POST_MT}; type="{STATUS}"; rel="https://tent.io/rels/notification"'},
        json={"id": "x", "entity": "https://other.example", "type": STATUS, "content": {"text": "hi"}},
    )
    assert resp.status == 403
    assert await resp.json() == {"error": "Unauthorized"}
