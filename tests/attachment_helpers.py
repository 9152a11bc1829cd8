"""Building multipart post bodies as standard clients send them (the post part first, then
one part per file) and the digests the server must compute for them."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import aiohttp

from tests.conftest import POST_MT, Tent


def digest(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()[:64]


def multipart(
    post: dict, files: list[tuple[str, str, str, bytes]], rel: str | None = None
) -> aiohttp.MultipartWriter:
    """`files` are (form field, file name, content type, bytes); `rel` goes on the post part."""
    writer = aiohttp.MultipartWriter("form-data")
    content_type = f'{POST_MT}; type="{post["type"]}"' + (f'; rel="{rel}"' if rel else "")
    part = writer.append_json(post, {"Content-Type": content_type})
    part.set_content_disposition("form-data", name="post", filename="post.json")
    for field, filename, file_type, data in files:
        p = writer.append(data, {"Content-Type": file_type})
        p.set_content_disposition("form-data", name=field, filename=filename)
    return writer


PHOTO = "https://tent.io/types/photo/v0#"
DATA = b"example attachment data"


async def upload(tent: Tent, files, client=None, **post) -> dict:
    body = {"type": PHOTO, "content": {"caption": "example photo"}, **post}
    writer = multipart(body, files)
    resp = await (client or tent.client).post(
        "/posts", data=writer, headers={"Content-Type": writer.content_type}
    )
    assert resp.status == 200, await resp.text()
    return (await resp.json())["post"]


def attachment_path(tent: Tent, d: str) -> str:
    return f"/attachments/{quote(tent.entity, safe='')}/{d}"
