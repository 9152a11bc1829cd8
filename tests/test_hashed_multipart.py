"""Multipart requests signed with a Hawk payload hash, as every standard Hawk client signs
them (§4.5: the whole raw body counts, with content type `multipart/form-data`). The hash
is checked while the body streams; a mismatch is refused and leaves nothing behind.

Every signature here comes from mohawk (tests/signing.py), not from the server's signer.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import aiohttp

from tent.handlers.common import DATABASE
from tests.attachment_helpers import digest, multipart
from tests.conftest import POST_MT, Tent
from tests.signing import sign

PHOTO = "https://tent.io/types/photo/v0#"
META = "https://tent.io/types/meta/v0#"
IMPORT = "https://tent.io/rels/import"
GENUINE = b"genuine photo bytes" * 20_000  # 380 KB: more than one stored chunk
FORGED = b"forged! photo bytes" * 20_000  # the same length, other bytes


async def _stored_counts(tent: Tent) -> tuple[int, int, int]:
    pool = tent.server.app[DATABASE].pool
    return (
        await pool.fetchval("SELECT count(*) FROM blobs"),
        await pool.fetchval("SELECT count(*) FROM blob_chunks"),
        await pool.fetchval("SELECT count(*) FROM post_attachments"),
    )


async def _signed_body(
    tent: Tent, method: str, path: str, writer: aiohttp.MultipartWriter
) -> tuple[bytes, dict]:
    """The serialised body and headers with a mohawk signature whose hash covers it."""
    body = await writer.as_bytes()
    header = sign(
        tent.client.creds, method, tent.base + path, body, writer.content_type, app=tent.owner["app_id"]
    )
    assert 'hash="' in header
    return body, {"Authorization": header, "Content-Type": writer.content_type}


async def test_hashed_multipart_new_post_stores_the_post_and_its_attachments(tent: Tent) -> None:
    writer = multipart({"type": PHOTO}, [("photo[0]", "a.jpeg", "image/jpeg", GENUINE)])
    body, headers = await _signed_body(tent, "POST", "/posts", writer)
    resp = await tent.anon.post("/posts", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    [attachment] = (await resp.json())["post"]["attachments"]
    assert attachment["digest"] == digest(GENUINE) and attachment["size"] == len(GENUINE)
    fetched = await tent.client.get(f"/attachments/{quote(tent.entity, safe='')}/{digest(GENUINE)}")
    assert fetched.status == 200 and await fetched.read() == GENUINE


async def test_multipart_with_a_wrong_payload_hash_is_403_and_stores_nothing(tent: Tent) -> None:
    signed = multipart({"type": PHOTO}, [("photo", "a.jpeg", "image/jpeg", GENUINE)])
    body, headers = await _signed_body(tent, "POST", "/posts", signed)
    forged = body.replace(GENUINE, FORGED)  # a valid multipart body, other file bytes
    resp = await tent.anon.post("/posts", data=forged, headers=headers)
    assert resp.status == 403
    assert await resp.json() == {"error": "Authentication failure: Invalid hash"}
    assert await _stored_counts(tent) == (0, 0, 0)
    assert (await tent.feed(f"?types={PHOTO}"))["posts"] == []


async def test_a_tampered_post_part_is_refused_too(tent: Tent) -> None:
    signed = multipart(
        {"type": PHOTO, "content": {"caption": "mine"}}, [("photo", "a.jpeg", "image/jpeg", GENUINE)]
    )
    body, headers = await _signed_body(tent, "POST", "/posts", signed)
    resp = await tent.anon.post("/posts", data=body.replace(b'"mine"', b'"evil"'), headers=headers)
    assert resp.status == 403
    assert await resp.json() == {"error": "Authentication failure: Invalid hash"}
    assert await _stored_counts(tent) == (0, 0, 0)


async def test_hashed_multipart_new_version_keeps_and_adds_attachments(tent: Tent) -> None:
    first = await tent.client.post(
        "/posts", data=multipart({"type": PHOTO}, [("photo", "a.jpeg", "image/jpeg", GENUINE)])
    )
    assert first.status == 200, await first.text()
    post = (await first.json())["post"]
    kept = {k: post["attachments"][0][k] for k in ("category", "content_type", "name", "digest")}
    body = {
        "type": PHOTO,
        "version": {"parents": [{"version": post["version"]["id"]}]},
        "attachments": [kept],
    }
    writer = multipart(body, [("photo", "b.png", "image/png", b"second file")])
    data, headers = await _signed_body(tent, "PUT", tent.post_path(post["id"]), writer)
    resp = await tent.anon.put(tent.post_path(post["id"]), data=data, headers=headers)
    assert resp.status == 200, await resp.text()
    names = [a["name"] for a in (await resp.json())["post"]["attachments"]]
    assert names == ["a.jpeg", "b.png"]


async def test_new_version_with_a_wrong_hash_leaves_the_post_as_it_was(tent: Tent) -> None:
    post = await tent.create(PHOTO, {"caption": "before"})
    body = {
        "type": PHOTO,
        "content": {"caption": "after"},
        "version": {"parents": [{"version": post["version"]["id"]}]},
    }
    writer = multipart(body, [("photo", "b.jpeg", "image/jpeg", GENUINE)])
    data, headers = await _signed_body(tent, "PUT", tent.post_path(post["id"]), writer)
    resp = await tent.anon.put(
        tent.post_path(post["id"]), data=data.replace(b"genuine", b"GENUINE"), headers=headers
    )
    assert resp.status == 403
    assert await resp.json() == {"error": "Authentication failure: Invalid hash"}
    current = await tent.client.get(tent.post_path(post["id"]))
    assert (await current.json())["post"]["version"]["id"] == post["version"]["id"]
    assert await _stored_counts(tent) == (0, 0, 0)


async def test_hashed_multipart_import_stores_the_post_with_its_attachment(tent: Tent) -> None:
    body = {
        "id": "imported-photo",
        "entity": tent.entity,
        "type": PHOTO,
        "content": {"caption": "from an export"},
        "published_at": 1000,
        "version": {"published_at": 1000, "received_at": 1001},
    }
    path = tent.post_path("imported-photo")
    writer = multipart(body, [("photo", "old.jpeg", "image/jpeg", GENUINE)], rel=IMPORT)
    data, headers = await _signed_body(tent, "PUT", path, writer)
    resp = await tent.anon.put(path, data=data, headers=headers)
    assert resp.status == 200, await resp.text()
    post = (await resp.json())["post"]
    assert post["published_at"] == 1000
    assert [a["digest"] for a in post["attachments"]] == [digest(GENUINE)]
    bad = multipart({**body, "id": "imported-2"}, [("photo", "old.jpeg", "image/jpeg", GENUINE)], rel=IMPORT)
    data, headers = await _signed_body(tent, "PUT", tent.post_path("imported-2"), bad)
    resp = await tent.anon.put(
        tent.post_path("imported-2"), data=data.replace(GENUINE, FORGED), headers=headers
    )
    assert resp.status == 403
    assert (await tent.client.get(tent.post_path("imported-2"))).status == 404


async def test_hashed_multipart_meta_post_gets_its_avatar(tent: Tent) -> None:
    resp = await tent.client.get(f"/posts?types={META}")
    meta = (await resp.json())["posts"][0]
    body = {
        "type": META,
        "content": {**meta["content"], "profile": {"name": "Alice"}},
        "version": {"parents": [{"version": meta["version"]["id"]}]},
    }
    writer = multipart(body, [("avatar", "me.png", "image/png", GENUINE)])
    data, headers = await _signed_body(tent, "PUT", tent.post_path(meta["id"]), writer)
    resp = await tent.anon.put(tent.post_path(meta["id"]), data=data, headers=headers)
    assert resp.status == 200, await resp.text()
    [avatar] = (await resp.json())["post"]["attachments"]
    assert (avatar["category"], avatar["digest"]) == ("avatar", digest(GENUINE))


async def test_multipart_without_a_hash_still_works(tent: Tent) -> None:
    writer = multipart({"type": PHOTO}, [("photo", "a.jpeg", "image/jpeg", GENUINE)])
    resp = await tent.client.post("/posts", data=writer, payload_hash=False)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["post"]["attachments"][0]["digest"] == digest(GENUINE)


async def test_a_multipart_body_sent_elsewhere_is_checked_before_the_handler_runs(tent: Tent) -> None:
    """Endpoints that do not stream read the whole body first: a forged one never reaches them."""
    writer = aiohttp.MultipartWriter("form-data")
    writer.append(b'{"code": "x"}', {"Content-Type": "application/json"})
    data = await writer.as_bytes()
    header = sign(tent.client.creds, "POST", tent.base + "/oauth/requests", data, writer.content_type)
    resp = await tent.anon.post(
        "/oauth/requests",
        data=data.replace(b'"x"', b'"y"'),
        headers={"Authorization": header, "Content-Type": writer.content_type},
    )
    assert resp.status == 403
    assert await resp.json() == {"error": "Authentication failure: Invalid hash"}


async def test_json_bodies_work_with_and_without_a_hash(tent: Tent) -> None:
    ct = {"Content-Type": f'{POST_MT}; type="https://tent.io/types/status/v0#"'}
    body = {"type": "https://tent.io/types/status/v0#", "content": {"text": f"at {time.time()}"}}
    assert (await tent.client.post("/posts", json=body, headers=ct)).status == 200
    assert (await tent.client.post("/posts", json=body, headers=ct, payload_hash=False)).status == 200
