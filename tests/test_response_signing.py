"""Every response to a signed request carries Server-Authorization (§4.8, D-34), checked
here by mohawk as a client would check it: streamed attachment bytes (200, 206, HEAD),
redirects and 304s included."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from yarl import URL

from tests.attachment_helpers import digest, multipart
from tests.conftest import Tent
from tests.signing import sender

PHOTO = "https://tent.io/types/photo/v0#"
DATA = b"0123456789" * 1000


async def _signed(tent: Tent, method: str, path: str, **headers: str) -> tuple[aiohttp.ClientResponse, bytes]:
    """A request signed by mohawk, whose response must satisfy mohawk's `accept_response`."""
    url = tent.base + path
    hawk = sender(tent.client.creds, method, url, app=tent.owner["app_id"])
    resp = await tent.session.request(
        method,
        URL(url, encoded=True),
        headers={"Authorization": hawk.request_header, **headers},
        allow_redirects=False,
    )
    body = await resp.read()
    assert "Server-Authorization" in resp.headers, (resp.status, dict(resp.headers))
    hawk.accept_response(
        resp.headers["Server-Authorization"],
        content=body,
        content_type=resp.headers.get("Content-Type", ""),
        accept_untrusted_content=True,  # streamed bytes are signed without a payload hash
    )
    return resp, body


@pytest.fixture
async def attachment(tent: Tent) -> dict[str, Any]:
    resp = await tent.client.post(
        "/posts", data=multipart({"type": PHOTO}, [("photo", "n.bin", "application/octet-stream", DATA)])
    )
    assert resp.status == 200, await resp.text()
    post = (await resp.json())["post"]
    return {"post": post, "path": f"/attachments/{quote(tent.entity, safe='')}/{digest(DATA)}"}


async def test_streamed_attachment_bytes_are_signed(tent: Tent, attachment: dict[str, Any]) -> None:
    resp, body = await _signed(tent, "GET", attachment["path"])
    assert resp.status == 200 and body == DATA


async def test_a_range_of_attachment_bytes_is_signed(tent: Tent, attachment: dict[str, Any]) -> None:
    resp, body = await _signed(tent, "GET", attachment["path"], Range="bytes=10-19")
    assert resp.status == 206 and body == DATA[10:20]


async def test_head_of_an_attachment_is_signed(tent: Tent, attachment: dict[str, Any]) -> None:
    resp, body = await _signed(tent, "HEAD", attachment["path"])
    assert resp.status == 200 and body == b""


async def test_a_304_and_a_post_attachment_redirect_are_signed(
    tent: Tent, attachment: dict[str, Any]
) -> None:
    first, _ = await _signed(tent, "GET", attachment["path"])
    resp, _ = await _signed(tent, "GET", attachment["path"], **{"If-None-Match": first.headers["ETag"]})
    assert resp.status == 304
    resp, _ = await _signed(tent, "GET", tent.post_path(attachment["post"]["id"]) + "/attachments/n.bin")
    assert resp.status == 302


async def test_json_responses_carry_a_signed_hash_of_their_body(tent: Tent) -> None:
    resp, _ = await _signed(tent, "GET", "/posts")
    assert resp.status == 200 and 'hash="' in resp.headers["Server-Authorization"]


async def test_a_signed_feed_answer_hashes_its_body_once_for_etag_and_signature(tent: Tent) -> None:
    """The ETag of a JSON answer is its payload hash, and Server-Authorization carries the
    same hash (D-93); mohawk checks it against the body, untrusted content refused."""
    await tent.create("https://tent.io/types/status/v0#", {"text": "hashed once"})
    url = tent.base + "/posts?limit=5"
    hawk = sender(tent.client.creds, "GET", url, app=tent.owner["app_id"])
    resp = await tent.session.get(URL(url, encoded=True), headers={"Authorization": hawk.request_header})
    body = await resp.read()
    assert resp.status == 200
    signature = resp.headers["Server-Authorization"]
    hawk.accept_response(signature, content=body, content_type=resp.headers["Content-Type"])
    assert f'hash="{resp.headers["ETag"].strip(chr(34))}"' in signature
