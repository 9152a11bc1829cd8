"""Hawk on every endpoint: good requests pass and are answered signed; every kind of bad
request gets the right status and header (docs/protocol.md §4, D-32, D-33, D-34, D-52)."""

from __future__ import annotations

import time

from tent.auth import hawk
from tent.auth.hawk import Credentials
from tests.conftest import POST_MT, STATUS, Tent
from tests.signing import bewit, sign

CT = f'{POST_MT}; type="{STATUS}"'
BODY = b'{"type":"https://tent.io/types/status/v0#","content":{"text":"signed"}}'


def owner_creds(tent: Tent) -> Credentials:
    return Credentials(tent.owner["id"], tent.owner["hawk_key"])


async def _post(tent: Tent, authorization: str, body: bytes = BODY):
    return await tent.anon.post(
        "/posts", data=body, headers={"Content-Type": CT, "Authorization": authorization}
    )


def _sign(
    tent: Tent, creds: Credentials | None = None, body: bytes = BODY, *, payload_hash: bool = True, **kw
) -> str:
    return sign(
        creds or owner_creds(tent),
        "POST",
        tent.base + "/posts",
        body,
        CT,
        app=tent.owner["app_id"],
        payload_hash=payload_hash,
        **kw,
    )


async def test_signed_request_is_accepted_and_the_response_is_signed(tent: Tent) -> None:
    header = _sign(tent)
    resp = await _post(tent, header)
    assert resp.status == 200
    body = await resp.read()
    server_auth = resp.headers["Server-Authorization"]
    assert 'hash="' in server_auth
    assert hawk.verify_response(
        server_auth,
        header,
        owner_creds(tent),
        method="POST",
        url=tent.base + "/posts",
        content=body,
        content_type=resp.headers["Content-Type"],
    )


async def test_error_responses_to_signed_requests_are_signed_too(tent: Tent) -> None:
    resp = await tent.client.get(tent.post_path("missing"))
    assert resp.status == 404
    assert resp.headers["Server-Authorization"].startswith("Hawk mac=")


async def test_bad_mac_is_403(tent: Tent) -> None:
    header = _sign(tent, Credentials(tent.owner["id"], "not-the-key"))
    resp = await _post(tent, header)
    assert resp.status == 403
    assert await resp.json() == {"error": "Authentication failure: Invalid mac"}
    assert "Server-Authorization" not in resp.headers


async def test_unknown_key_id_is_403(tent: Tent) -> None:
    header = _sign(tent, Credentials("unknownKeyId", "whatever"))
    resp = await _post(tent, header)
    assert resp.status == 403
    assert await resp.json() == {"error": "Authentication failure: Unidentified id"}


async def test_stale_timestamp_is_401_with_a_signed_server_time(tent: Tent) -> None:
    header = _sign(tent, ts=int(time.time()) - 3600)
    resp = await _post(tent, header)
    assert resp.status == 401
    www = resp.headers["WWW-Authenticate"]
    attrs = dict(part.strip().split("=", 1) for part in www.removeprefix("Hawk ").split(","))
    server_ts = int(attrs["ts"].strip('"'))
    assert abs(server_ts - time.time()) < 5
    expected_tsm = hawk._ts_mac(server_ts, owner_creds(tent))
    assert attrs["tsm"].strip('"') == expected_tsm
    assert 'error="Stale timestamp"' in www


async def test_replayed_nonce_is_403(tent: Tent) -> None:
    header = _sign(tent)
    assert (await _post(tent, header)).status == 200
    again = await _post(tent, header)
    assert again.status == 403
    assert await again.json() == {"error": "Authentication failure: Replayed nonce"}


async def test_tampered_body_with_hash_is_403(tent: Tent) -> None:
    header = _sign(tent)
    tampered = BODY.replace(b"signed", b"forged")
    resp = await _post(tent, header, tampered)
    assert resp.status == 403
    assert await resp.json() == {"error": "Authentication failure: Invalid hash"}


async def test_body_without_hash_is_accepted(tent: Tent) -> None:
    header = _sign(tent, payload_hash=False)
    assert (await _post(tent, header)).status == 200


async def test_signature_covers_the_percent_encoded_path(tent: Tent) -> None:
    post = await tent.status("encoded")
    resp = await tent.client.get(tent.post_path(post["id"]))
    assert resp.status == 200


async def test_bewit_grants_get_until_it_expires(tent: Tent) -> None:
    secret = await tent.status("private", permissions={"public": False})
    server = tent.server.app
    from tent.handlers.common import SERVER_CREDENTIALS

    url = tent.base + tent.post_path(secret["id"])
    good = bewit(server[SERVER_CREDENTIALS], url, int(time.time()) + 60)
    resp = await tent.anon.get(good.removeprefix(tent.base))
    assert resp.status == 200
    assert (await resp.json())["post"]["id"] == secret["id"]
    expired = bewit(server[SERVER_CREDENTIALS], url, int(time.time()) - 1)
    resp = await tent.anon.get(expired.removeprefix(tent.base))
    assert resp.status == 403
    assert (await resp.json())["error"] == "Authentication failure: Access expired"


async def test_bewit_is_refused_for_writes_and_with_authorization(tent: Tent) -> None:
    from tent.handlers.common import SERVER_CREDENTIALS

    url = tent.base + "/posts"
    signed = bewit(tent.server.app[SERVER_CREDENTIALS], url, int(time.time()) + 60)
    resp = await tent.anon.post(signed.removeprefix(tent.base), data=BODY, headers={"Content-Type": CT})
    assert resp.status == 403
    resp = await tent.client.get(signed.removeprefix(tent.base))
    assert resp.status == 403


async def test_malformed_authorization_header_is_403(tent: Tent) -> None:
    for header in (
        "Hawk",
        "Hawk id=",
        'Hawk id="a b", ts="1", nonce="n", mac="m"',
        "Basic abc",
        "Hawk garbage",
    ):
        resp = await tent.anon.get("/posts", headers={"Authorization": header})
        assert resp.status == 403, header
        assert (await resp.json())["error"].startswith("Authentication failure")


async def test_anonymous_may_not_create_posts_other_than_apps(tent: Tent) -> None:
    resp = await tent.anon.post("/posts", data=BODY, headers={"Content-Type": CT})
    assert resp.status == 403
    assert await resp.json() == {"error": "Unauthorized"}


async def test_anonymous_version_and_delete_are_401(tent: Tent) -> None:
    post = await tent.status("mine")
    body = {
        "type": STATUS,
        "content": {"text": "x"},
        "version": {"parents": [{"version": post["version"]["id"]}]},
    }
    resp = await tent.anon.put(tent.post_path(post["id"]), json=body, headers={"Content-Type": CT})
    assert resp.status == 401
    resp = await tent.anon.delete(tent.post_path(post["id"]))
    assert resp.status == 401
    secret = await tent.status("private", permissions={"public": False})
    assert (await tent.anon.delete(tent.post_path(secret["id"]))).status == 404


async def test_request_signed_for_the_host_header_also_verifies(tent: Tent) -> None:
    other = f"http://localhost:{tent.settings.port}"
    header = sign(owner_creds(tent), "GET", other + "/posts")
    resp = await tent.anon.get(
        "/posts", headers={"Authorization": header, "Host": f"localhost:{tent.settings.port}"}
    )
    assert resp.status == 200
