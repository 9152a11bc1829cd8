"""Bewits (§4.9) signed with any credentials that authenticate a request, the way clients
share a private post (npm `hawk.uri.getBewit`, hawk-go): the bearer acts as the principal
of those credentials, for that one URL, with GET or HEAD, until the bewit expires.

Bewits here are made by mohawk (tests/signing.py), with the app's own token.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import quote

from tests.app_helpers import authorize
from tests.attachment_helpers import digest, multipart
from tests.conftest import POST_MT, STATUS, Tent
from tests.signing import bewit

PHOTO = "https://tent.io/types/photo/v0#"


def _later() -> int:
    return int(time.time()) + 60


async def test_bewit_made_with_an_apps_token_reads_a_private_post(tent: Tent) -> None:
    reader = await authorize(tent, ["https://tent.io/types/status/v0"], [])
    secret = await tent.status("for bearers only", permissions={"public": False})
    url = bewit(reader.creds, tent.base + tent.post_path(secret["id"]), _later())
    resp = await tent.anon.get(url.removeprefix(tent.base))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["post"]["content"]["text"] == "for bearers only"
    assert (await tent.anon.head(url.removeprefix(tent.base))).status == 200
    assert (await tent.anon.get(tent.post_path(secret["id"]))).status == 404  # without it


async def test_the_bearer_gets_no_more_than_the_signing_app_may_read(tent: Tent) -> None:
    status_reader = await authorize(tent, ["https://tent.io/types/status/v0"], [])
    essay = await tent.create(
        "https://tent.io/types/essay/v0#", {"body": "<p>x</p>"}, permissions={"public": False}
    )
    url = bewit(status_reader.creds, tent.base + tent.post_path(essay["id"]), _later())
    assert (await tent.anon.get(url.removeprefix(tent.base))).status == 404


async def test_a_bewit_is_valid_for_its_one_url_only(tent: Tent) -> None:
    reader = await authorize(tent, ["https://tent.io/types/status/v0"], [])
    one = await tent.status("one", permissions={"public": False})
    two = await tent.status("two", permissions={"public": False})
    url = bewit(reader.creds, tent.base + tent.post_path(one["id"]), _later())
    token = url.rsplit("bewit=", 1)[1]
    resp = await tent.anon.get(f"{tent.post_path(two['id'])}?bewit={token}")
    assert resp.status == 403
    assert await resp.json() == {"error": "Authentication failure: Invalid mac"}


async def test_an_app_bewit_allows_only_get_and_head(tent: Tent) -> None:
    writer = await authorize(tent, ["https://tent.io/types/status/v0"], ["https://tent.io/types/status/v0"])
    url = bewit(writer.creds, tent.base + "/posts", _later())
    body = {"type": STATUS, "content": {"text": "no"}}
    resp = await tent.anon.post(
        url.removeprefix(tent.base), json=body, headers={"Content-Type": f'{POST_MT}; type="{STATUS}"'}
    )
    assert resp.status == 403
    assert await resp.json() == {"error": "Authentication failure: Bewit only allowed on GET and HEAD"}


async def test_expired_tampered_and_unknown_bewits_are_refused(tent: Tent) -> None:
    reader = await authorize(tent, ["https://tent.io/types/status/v0"], [])
    secret = await tent.status("guarded", permissions={"public": False})
    target = tent.base + tent.post_path(secret["id"])
    expired = bewit(reader.creds, target, int(time.time()) - 1)
    resp = await tent.anon.get(expired.removeprefix(tent.base))
    assert (resp.status, (await resp.json())["error"]) == (403, "Authentication failure: Access expired")

    good = bewit(reader.creds, target, _later()).rsplit("bewit=", 1)[1]
    key_id, exp, mac, ext = base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)).decode().split("\\")
    later = (
        base64.urlsafe_b64encode(f"{key_id}\\{int(exp) + 3600}\\{mac}\\{ext}".encode()).decode().rstrip("=")
    )
    resp = await tent.anon.get(f"{tent.post_path(secret['id'])}?bewit={later}")
    assert (resp.status, (await resp.json())["error"]) == (403, "Authentication failure: Invalid mac")

    stranger = bewit(type(reader.creds)("unknownKeyId", "whatever"), target, _later())
    resp = await tent.anon.get(stranger.removeprefix(tent.base))
    assert (resp.status, (await resp.json())["error"]) == (403, "Authentication failure: Unidentified id")


async def test_a_revoked_apps_bewits_stop_working(tent: Tent) -> None:
    reader = await authorize(tent, ["https://tent.io/types/status/v0"], [])
    secret = await tent.status("until revoked", permissions={"public": False})
    url = bewit(reader.creds, tent.base + tent.post_path(secret["id"]), _later())
    assert (await tent.anon.get(url.removeprefix(tent.base))).status == 200
    grant = await tent.client.get(f"/posts?types={quote('https://tent.io/types/app-auth/v0')}&limit=1")
    [auth_post] = (await grant.json())["posts"]
    assert (await tent.client.delete(tent.post_path(auth_post["id"]))).status == 200
    gone = await tent.anon.get(url.removeprefix(tent.base))  # revoking deleted the key (D-72)
    assert (gone.status, (await gone.json())["error"]) == (403, "Authentication failure: Unidentified id")


async def test_an_app_bewit_fetches_a_private_attachment(tent: Tent) -> None:
    reader = await authorize(tent, ["https://tent.io/types/photo/v0"], [])
    data = b"a private picture"
    writer = multipart(
        {"type": PHOTO, "permissions": {"public": False}}, [("photo", "p.jpeg", "image/jpeg", data)]
    )
    assert (await tent.client.post("/posts", data=writer)).status == 200
    path = f"/attachments/{quote(tent.entity, safe='')}/{digest(data)}"
    assert (await tent.anon.get(path)).status == 404
    url = bewit(reader.creds, tent.base + path, _later())
    resp = await tent.anon.get(url.removeprefix(tent.base))
    assert resp.status == 200 and await resp.read() == data


async def test_a_bewit_signed_by_the_servers_own_key_still_acts_as_the_owner(tent: Tent) -> None:
    from tent.handlers.common import SERVER_CREDENTIALS

    secret = await tent.create(
        "https://tent.io/types/essay/v0#", {"body": "<p>owner</p>"}, permissions={"public": False}
    )
    url = bewit(tent.server.app[SERVER_CREDENTIALS], tent.base + tent.post_path(secret["id"]), _later())
    assert (await tent.anon.get(url.removeprefix(tent.base))).status == 200
