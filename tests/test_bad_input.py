"""Bad input gets a clear 4xx JSON error; nothing produces a 500 or a traceback."""

from __future__ import annotations

import json

import pytest

from tests.conftest import POST_MT, STATUS, Tent

ERROR_MT = "application/vnd.tent.error.v0+json"
CT = {"Content-Type": f'{POST_MT}; type="{STATUS}"'}


async def _error(resp, status: int) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"].startswith(ERROR_MT)
    body = await resp.json()
    assert isinstance(body["error"], str) and body["error"]
    return body


async def test_malformed_json_is_400_invalid_json(tent: Tent) -> None:
    body = await _error(await tent.client.post("/posts", data=b'{"type": ', headers=CT), 400)
    assert body == {"error": "Invalid JSON"}


async def test_invalid_utf8_is_400_invalid_json(tent: Tent) -> None:
    body = await _error(await tent.client.post("/posts", data=b'{"a": "\xff"}', headers=CT), 400)
    assert body == {"error": "Invalid JSON"}


async def test_empty_body_is_request_body_missing(tent: Tent) -> None:
    body = await _error(await tent.client.post("/posts", data=b"", headers=CT), 400)
    assert body == {"error": "Request body missing."}


async def test_json_string_body_is_request_body_missing(tent: Tent) -> None:
    body = await _error(await tent.client.post("/posts", data=b'"status"', headers=CT), 400)
    assert body == {"error": "Request body missing."}


async def test_wrong_media_type_is_415(tent: Tent) -> None:
    resp = await tent.client.post(
        "/posts",
        json={"type": STATUS, "content": {"text": "x"}},
        headers={"Content-Type": "application/json"},
    )
    body = await _error(resp, 415)
    assert body["error"].startswith("Invalid Content-Type header.")


async def test_type_parameter_must_equal_the_body_type(tent: Tent) -> None:
    resp = await tent.client.post(
        "/posts",
        json={"type": STATUS, "content": {"text": "x"}},
        headers={"Content-Type": f'{POST_MT}; type="https://tent.io/types/status/v0#reply"'},
    )
    await _error(resp, 415)


async def test_float_in_content_is_400_with_diff(tent: Tent) -> None:
    resp = await tent.client.post(
        "/posts", data=b'{"type": "%s", "content": {"text": "x", "n": 1.5}}' % STATUS.encode(), headers=CT
    )
    body = await _error(resp, 400)
    assert body["error"] == "Invalid Attributes"
    assert body["diff"][0]["path"] == "/content/n" and body["diff"][0]["op"] == "replace"


async def test_missing_required_field_is_400_with_add_diff(tent: Tent) -> None:
    resp = await tent.client.post("/posts", json={"type": STATUS, "content": {}}, headers=CT)
    body = await _error(resp, 400)
    assert {"op": "add", "path": "/content/text"}.items() <= body["diff"][0].items()


async def test_missing_type_is_type_not_specified(tent: Tent) -> None:
    resp = await tent.client.post("/posts", json={"content": {"text": "x"}}, headers=CT)
    body = await _error(resp, 400)
    assert body["error"].startswith("Type not specified")


async def test_status_longer_than_256_code_points_is_rejected(tent: Tent) -> None:
    resp = await tent.client.post("/posts", json={"type": STATUS, "content": {"text": "é" * 257}}, headers=CT)
    await _error(resp, 400)
    ok = await tent.client.post("/posts", json={"type": STATUS, "content": {"text": "😀" * 256}}, headers=CT)
    assert ok.status == 200


async def test_repost_needs_a_single_ref_and_a_mention(tent: Tent) -> None:
    repost = "https://tent.io/types/repost/v0#https://tent.io/types/status/v0#"
    resp = await tent.client.post(
        "/posts", json={"type": repost}, headers={"Content-Type": f'{POST_MT}; type="{repost}"'}
    )
    body = await _error(resp, 400)
    assert body["error"] == "Repost must have exactly one ref"
    good = {
        "type": repost,
        "refs": [{"entity": "https://bob.example", "post": "p1"}],
        "mentions": [{"entity": "https://bob.example", "post": "p1"}],
    }
    resp = await tent.client.post(
        "/posts", json=good, headers={"Content-Type": f'{POST_MT}; type="{repost}"'}
    )
    assert resp.status == 200, await resp.text()


async def test_oversized_body_is_413_json(make_server) -> None:
    tent = await make_server(max_body_size=4096)
    big = json.dumps({"type": STATUS, "content": {"text": "x" * 10000}}).encode()
    body = await _error(await tent.client.post("/posts", data=big, headers=CT), 413)
    assert body == {"error": "Request body too large"}


@pytest.mark.parametrize(
    "query",
    [
        "?limit=abc",
        "?limit=-1",
        "?sort_by=bogus",
        "?since=yesterday",
        "?before=1+a+b",
        "?until=x",
        "?max_refs=many",
        "?since=1&until=2",
        "?types=not-a-type",
        "?profiles=friends",
        "?limit=1&limit=2",
    ],
)
async def test_bad_feed_parameters_are_400(tent: Tent, query: str) -> None:
    await _error(await tent.client.get("/posts" + query), 400)


async def test_unknown_route_is_404_json(tent: Tent) -> None:
    body = await _error(await tent.client.get("/nothing/here"), 404)
    assert body == {"error": "Not Found"}


async def test_wrong_method_is_405_json(tent: Tent) -> None:
    await _error(await tent.client.patch("/posts"), 405)


@pytest.mark.parametrize("path", ["/posts/nope", "/posts//x", "/posts/http%3A%2F%2F/"])
async def test_malformed_post_paths_are_404(tent: Tent, path: str) -> None:
    await _error(await tent.client.get(path), 404)


async def test_a_stream_of_malformed_requests_never_gets_a_5xx(tent: Tent) -> None:
    bodies = [
        b"",
        b"null",
        b"[]",
        b"{}",
        b'{"type": 5}',
        b'{"type": "x"}',
        b'{"type": "' + STATUS.encode() + b'", "content": []}',
        b"\x00\x01",
        b"{" * 5000,
        b"1" * 400,
        b'{"type":"' + STATUS.encode() + b'","mentions":"x"}',
        b'{"type":"' + STATUS.encode() + b'","version":{"parents":[1]}}',
        b'{"type":"' + STATUS.encode() + b'","content":{"text":"x"},"permissions":{"entities":[1]}}',
    ]
    headers = [
        CT,
        {"Content-Type": "text/plain"},
        {"Content-Type": f"{POST_MT}; type="},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {},
    ]
    for body in bodies:
        for h in headers:
            for method, path in (("POST", "/posts"), ("PUT", f"/posts/{tent.entity}/abc")):
                resp = await tent.client.request(method, path, data=body, headers=h)
                assert 400 <= resp.status < 500, (method, body[:40], h, resp.status, await resp.text())
                assert "Traceback" not in await resp.text()
    # and the server still works
    assert (await tent.client.get("/posts")).status == 200
