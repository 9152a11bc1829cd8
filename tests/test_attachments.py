"""Attachments: multipart posts, content-addressed storage, the attachment and
post_attachment endpoints, ranges, and who may fetch what (§2.12, §3.7, §3.8)."""

from __future__ import annotations

import time

import aiohttp

from tent.handlers.common import DATABASE, SERVER_CREDENTIALS
from tests.app_helpers import authorize
from tests.attachment_helpers import DATA, PHOTO, attachment_path, digest, multipart, upload
from tests.conftest import POST_MT, Tent
from tests.signing import bewit


async def test_multipart_post_records_each_attachment(tent: Tent) -> None:
    post = await upload(
        tent,
        [
            ("photo[0]", "example.jpeg", "image/jpeg", DATA),
            ("photo[1]", "second.png", "image/png", b"\x89PNG more"),
        ],
    )
    assert post["attachments"] == [
        {
            "category": "photo",
            "content_type": "image/jpeg",
            "name": "example.jpeg",
            "digest": digest(DATA),
            "size": len(DATA),
        },
        {
            "category": "photo",
            "content_type": "image/png",
            "name": "second.png",
            "digest": digest(b"\x89PNG more"),
            "size": 9,
        },
    ]
    assert post["attachments"][0]["digest"].startswith("9585ac48e055ed49")


async def test_the_same_bytes_are_stored_once(tent: Tent) -> None:
    await upload(tent, [("photo", "a.jpeg", "image/jpeg", DATA)])
    await upload(tent, [("photo", "b.jpeg", "image/jpeg", DATA)])
    pool = tent.server.app[DATABASE].pool
    assert await pool.fetchval("SELECT count(*) FROM blobs WHERE digest = $1", digest(DATA)) == 1
    assert await pool.fetchval("SELECT count(*) FROM blob_chunks WHERE blob = $1", digest(DATA)) == 1
    assert await pool.fetchval("SELECT count(*) FROM blob_chunks WHERE blob LIKE 'upload:%'") == 0


async def test_attachment_endpoint_serves_the_bytes_with_caching_headers(tent: Tent) -> None:
    await upload(tent, [("photo", "example.jpeg", "image/jpeg", DATA)])
    resp = await tent.anon.get(attachment_path(tent, digest(DATA)))
    assert resp.status == 200
    assert await resp.read() == DATA
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["Content-Length"] == str(len(DATA))
    assert resp.headers["ETag"] == '"lYWsSOBV7UmMyKAIIBA3upZvt2cicBB-1eTpT6bLvPc"'
    assert resp.headers["Content-Disposition"] == 'inline; filename="example.jpeg"'
    assert resp.headers["Cache-Control"] == "public, max-age=31557600"
    again = await tent.anon.get(
        attachment_path(tent, digest(DATA)), headers={"If-None-Match": resp.headers["ETag"]}
    )
    assert again.status == 304
    head = await tent.anon.head(attachment_path(tent, digest(DATA)))
    assert head.status == 200 and head.headers["Content-Length"] == str(len(DATA))


async def test_range_requests_return_partial_content(tent: Tent) -> None:
    data = bytes(range(256)) * 4000  # ~1 MB, several storage chunks
    await upload(tent, [("photo", "big.bin", "application/octet-stream", data)])
    path = attachment_path(tent, digest(data))
    for header, first, last in (
        ("bytes=0-9", 0, 9),
        ("bytes=262140-262150", 262140, 262150),
        ("bytes=-5", len(data) - 5, len(data) - 1),
        ("bytes=1000000-", 1000000, len(data) - 1),
    ):
        resp = await tent.anon.get(path, headers={"Range": header})
        assert resp.status == 206, header
        assert await resp.read() == data[first : last + 1]
        assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
    bad = await tent.anon.get(path, headers={"Range": f"bytes={len(data)}-"})
    assert bad.status == 416 and bad.headers["Content-Range"] == f"bytes */{len(data)}"
    whole = await tent.anon.get(path)
    assert await whole.read() == data


async def test_post_attachment_redirects_choosing_by_accept(tent: Tent) -> None:
    post = await upload(
        tent, [("photo", "pic", "image/jpeg", b"jpeg bytes"), ("photo", "pic", "image/png", b"png bytes")]
    )
    path = tent.post_path(post["id"]) + "/attachments/pic"
    resp = await tent.anon.get(path, headers={"Accept": "image/png"})
    assert resp.status == 302
    assert resp.headers["Attachment-Digest"] == digest(b"png bytes")
    assert resp.headers["Location"] == tent.entity + attachment_path(tent, digest(b"png bytes"))
    resp = await tent.anon.get(path, headers={"Accept": "image/png;q=0.2, image/jpeg;q=0.9"})
    assert resp.headers["Attachment-Digest"] == digest(b"jpeg bytes")
    assert (await tent.anon.get(path, headers={"Accept": "image/*"})).status == 302
    assert (await tent.anon.get(path)).status == 302  # no Accept means */*
    assert (await tent.anon.get(path, headers={"Accept": "text/plain"})).status == 404
    assert (await tent.anon.get(tent.post_path(post["id"]) + "/attachments/other")).status == 404


async def test_copying_an_attachment_by_digest(tent: Tent) -> None:
    await upload(tent, [("photo", "example.jpeg", "image/jpeg", DATA)])
    listed = {"category": "photo", "content_type": "image/jpeg", "name": "copy.jpeg", "digest": digest(DATA)}
    copy = await tent.create(PHOTO, {"caption": "again"}, attachments=[listed])
    assert copy["attachments"] == [{**listed, "size": len(DATA)}]
    unknown = {**listed, "digest": "0" * 64}
    resp = await tent.client.post(
        "/posts",
        json={"type": PHOTO, "attachments": [unknown]},
        headers={"Content-Type": f'{POST_MT}; type="{PHOTO}"'},
    )
    assert resp.status == 400 and (await resp.json())["error"].startswith("Unknown attachment: ")


async def test_an_app_cannot_copy_a_private_attachment_it_cannot_read(tent: Tent) -> None:
    secret = b"private bytes"
    await upload(tent, [("photo", "s.jpeg", "image/jpeg", secret)], permissions={"public": False})
    app = await authorize(tent, [], ["https://tent.io/types/status/v0"])
    body = {
        "type": "https://tent.io/types/status/v0#",
        "content": {"text": "leak?"},
        "attachments": [
            {"category": "x", "content_type": "image/jpeg", "name": "n", "digest": digest(secret)}
        ],
    }
    resp = await app.post("/posts", json=body, headers={"Content-Type": f'{POST_MT}; type="{body["type"]}"'})
    assert resp.status == 400


async def test_new_versions_do_not_inherit_attachments_and_put_accepts_multipart(tent: Tent) -> None:
    post = await upload(tent, [("photo", "a.jpeg", "image/jpeg", DATA)])
    plain = await tent.update(post, {"caption": "no photo"})
    assert "attachments" not in plain
    body = {
        "type": PHOTO,
        "content": {"caption": "new photo"},
        "version": {"parents": [{"version": plain["version"]["id"]}]},
    }
    writer = multipart(body, [("photo", "b.jpeg", "image/jpeg", b"new bytes")])
    resp = await tent.client.put(
        tent.post_path(post["id"]), data=writer, headers={"Content-Type": writer.content_type}
    )
    assert resp.status == 200, await resp.text()
    assert [a["name"] for a in (await resp.json())["post"]["attachments"]] == ["b.jpeg"]


async def test_private_attachment_is_hidden_from_anonymous_other_apps_and_expires_with_bewit(
    tent: Tent,
) -> None:
    secret = b"top secret image"
    post = await upload(tent, [("photo", "s.jpeg", "image/jpeg", secret)], permissions={"public": False})
    path = attachment_path(tent, digest(secret))
    assert (await tent.anon.get(path)).status == 404
    assert (await tent.anon.get(tent.post_path(post["id"]) + "/attachments/s.jpeg")).status == 404
    no_read = await authorize(tent, [], [])
    assert (await no_read.get(path)).status == 404
    status_only = await authorize(tent, ["https://tent.io/types/status/v0"], [])
    assert (await status_only.get(path)).status == 404
    photo_reader = await authorize(tent, ["https://tent.io/types/photo/v0"], [])
    ok = await photo_reader.get(path)
    assert ok.status == 200 and await ok.read() == secret
    assert ok.headers["Cache-Control"].startswith("private")
    from urllib.parse import quote

    other_entity = f"/attachments/{quote('https://other.example', safe='')}/{digest(secret)}"
    assert (await tent.anon.get(other_entity)).status == 404
    server = tent.server.app[SERVER_CREDENTIALS]
    good = bewit(server, tent.base + path, int(time.time()) + 60)
    resp = await tent.anon.get(good.removeprefix(tent.base))
    assert resp.status == 200 and await resp.read() == secret
    expired = bewit(server, tent.base + path, int(time.time()) - 1)
    assert (await tent.anon.get(expired.removeprefix(tent.base))).status == 403


async def test_attachment_over_the_limit_is_413_and_leaves_nothing(make_server) -> None:
    tent = await make_server(max_attachment_size=1000)
    writer = multipart({"type": PHOTO}, [("photo", "big", "image/jpeg", b"x" * 5000)])
    resp = await tent.client.post("/posts", data=writer, headers={"Content-Type": writer.content_type})
    assert resp.status == 413
    assert (await resp.json())["error"].startswith("Attachment too large")
    pool = tent.server.app[DATABASE].pool
    assert await pool.fetchval("SELECT count(*) FROM blob_chunks") == 0
    assert (await tent.feed(f"?types={PHOTO}"))["posts"] == []


async def test_multipart_needs_the_post_part_first_and_unauthorized_uploads_store_nothing(tent: Tent) -> None:
    writer = aiohttp.MultipartWriter("form-data")
    p = writer.append(b"data", {"Content-Type": "image/jpeg"})
    p.set_content_disposition("form-data", name="photo", filename="a.jpeg")
    resp = await tent.client.post("/posts", data=writer, headers={"Content-Type": writer.content_type})
    assert resp.status == 400
    writer = multipart({"type": PHOTO}, [("photo", "a.jpeg", "image/jpeg", b"anonymous bytes")])
    resp = await tent.anon.post("/posts", data=writer, headers={"Content-Type": writer.content_type})
    assert resp.status == 403
    assert await tent.server.app[DATABASE].pool.fetchval("SELECT count(*) FROM blob_chunks") == 0
