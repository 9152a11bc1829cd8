"""Authorization requests for apps without a browser: sent -> got -> yes | no, or expire /
abort; terminal results never change; the app polls and gets credentials on yes."""

from __future__ import annotations

import time

from tent.core.passphrase import hash_passphrase
from tent.handlers.common import STATE
from tent.handlers.owner import PASSPHRASE_KEY
from tests.app_helpers import ask, owner_session
from tests.conftest import POST_MT, STATUS, Tent


async def test_new_request_is_sent_with_what_the_app_wants(tent: Tent) -> None:
    entry, _ = await ask(tent)
    assert entry["result"] == "sent"
    assert entry["stamp"] > time.time_ns() - 60 * 10**9
    req = entry["request"]
    assert req["app"]["name"] == "Example App" and req["types"] == {"read": [STATUS], "write": [STATUS]}
    assert req["scopes"] == ["permissions"] and req["code"] == 424242
    assert entry["approve_url"] == tent.entity + "/owner"


async def test_only_apps_with_app_credentials_may_ask(tent: Tent) -> None:
    assert (await tent.anon.post("/oauth/requests", json={})).status == 401
    assert (await tent.client.post("/oauth/requests", json={})).status == 403


async def test_approval_gives_the_polling_app_working_credentials(tent: Tent) -> None:
    entry, client = await ask(tent)
    stamp = entry["stamp"]
    assert (await (await client.get(f"/oauth/requests/{stamp}")).json())["result"] == "sent"
    decided = await tent.client.put(f"/oauth/requests/{stamp}", json={"result": "yes"})
    assert decided.status == 200 and (await decided.json())["result"] == "yes"
    polled = await (await client.get(f"/oauth/requests/{stamp}")).json()
    assert polled["result"] == "yes"
    token = polled["credentials"]
    assert token["token_type"] == "https://tent.io/oauth/hawk-token"
    authed = tent.as_app(token)
    resp = await authed.post(
        "/posts",
        json={"type": STATUS, "content": {"text": "hi"}},
        headers={"Content-Type": f'{POST_MT}; type="{STATUS}"'},
    )
    assert resp.status == 200
    owner_view = await (await tent.client.get(f"/oauth/requests/{stamp}")).json()
    assert "credentials" not in owner_view


async def test_denied_request_gives_nothing_and_stays_denied(tent: Tent) -> None:
    entry, client = await ask(tent)
    stamp = entry["stamp"]
    assert (await (await tent.client.put(f"/oauth/requests/{stamp}", json={"result": "no"})).json())[
        "result"
    ] == "no"
    polled = await (await client.get(f"/oauth/requests/{stamp}")).json()
    assert polled["result"] == "no" and "credentials" not in polled
    again = await tent.client.put(f"/oauth/requests/{stamp}", json={"result": "yes"})
    assert again.status == 409 and (await again.json())["result"] == "no"
    assert (await client.delete(f"/oauth/requests/{stamp}")).status == 409


async def test_request_expires_at_its_expiry_time(tent: Tent) -> None:
    expire = int(time.time() * 1000) + 300
    entry, client = await ask(tent, expire=expire)
    assert entry["result"] == "sent"
    while int(time.time() * 1000) <= expire:
        time.sleep(0.05)
    assert (await (await client.get(f"/oauth/requests/{entry['stamp']}")).json())["result"] == "expire"
    late = await tent.client.put(f"/oauth/requests/{entry['stamp']}", json={"result": "yes"})
    assert late.status == 409 and (await late.json())["result"] == "expire"


async def test_request_with_past_expiry_starts_expired(tent: Tent) -> None:
    entry, _ = await ask(tent, expire=1000)
    assert entry["result"] == "expire"


async def test_app_can_cancel_its_pending_request(tent: Tent) -> None:
    entry, client = await ask(tent)
    resp = await client.delete(f"/oauth/requests/{entry['stamp']}")
    assert resp.status == 200 and (await resp.json())["result"] == "abort"
    approve = await tent.client.put(f"/oauth/requests/{entry['stamp']}", json={"result": "yes"})
    assert approve.status == 409


async def test_other_apps_and_anonymous_cannot_see_a_request(tent: Tent) -> None:
    entry, _ = await ask(tent)
    _, other = await ask(tent)
    assert (await other.get(f"/oauth/requests/{entry['stamp']}")).status == 404
    assert (await tent.anon.get(f"/oauth/requests/{entry['stamp']}")).status == 404
    assert (await other.delete(f"/oauth/requests/{entry['stamp']}")).status == 404
    assert (await other.put(f"/oauth/requests/{entry['stamp']}", json={"result": "yes"})).status == 403
    assert (await tent.anon.get("/oauth/requests")).status == 401
    assert (await tent.client.get("/oauth/requests/notanumber")).status == 404


async def test_owner_lists_requests_newest_first_with_paging_by_stamp(tent: Tent) -> None:
    stamps = [(await ask(tent, msg=f"r{i}"))[0]["stamp"] for i in range(5)]
    listed = await (await tent.client.get("/oauth/requests")).json()
    assert [e["stamp"] for e in listed["logs"]] == sorted(stamps, reverse=True)
    page = await (await tent.client.get(f"/oauth/requests?before={stamps[3]}&limit=2")).json()
    assert [e["stamp"] for e in page["logs"]] == [stamps[2], stamps[1]]
    assert page["before"] == stamps[3]
    newer = await (await tent.client.get(f"/oauth/requests?since={stamps[2]}")).json()
    assert [e["stamp"] for e in newer["logs"]] == [stamps[4], stamps[3]]


async def test_owner_page_marks_requests_got_and_decides_with_csrf(tent: Tent) -> None:
    entry, client = await ask(tent)
    session = await owner_session(tent)
    try:
        page = await session.get(tent.base + "/owner")
        html = await page.text()
        assert "Example App" in html and "424242" in html
        assert (await (await client.get(f"/oauth/requests/{entry['stamp']}")).json())["result"] == "got"
        no_csrf = await session.post(
            tent.base + f"/owner/requests/{entry['stamp']}",
            data={"decision": "approve"},
            allow_redirects=False,
        )
        assert no_csrf.status == 403
        csrf = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        ok = await session.post(
            tent.base + f"/owner/requests/{entry['stamp']}",
            data={"decision": "approve", "csrf": csrf},
            allow_redirects=False,
        )
        assert ok.status == 303
        assert (await (await client.get(f"/oauth/requests/{entry['stamp']}")).json())["result"] == "yes"
    finally:
        await session.close()


async def test_owner_page_without_session_shows_the_sign_in_form(tent: Tent) -> None:
    resp = await tent.anon.get("/owner")
    assert resp.status == 200
    html = await resp.text()
    assert "tent passphrase" in html and 'type="password"' not in html  # no passphrase set yet
    await tent.server.app[STATE].set(PASSPHRASE_KEY, hash_passphrase("correct horse battery"))
    html = await (await tent.anon.get("/owner")).text()
    assert 'type="password"' in html and "Approve" not in html
