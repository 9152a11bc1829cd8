"""Posts as standard clients send them: only what the protocol says *must* be refused is
refused (docs/validation.md), and who may write is decided before the content is looked at,
so a writer without access gets 403 whatever the body holds (§3.1, §3.3)."""

from __future__ import annotations

import pytest

from tests.app_helpers import authorize
from tests.conftest import POST_MT, STATUS, Tent

REPLY = "https://tent.io/types/status/v0#reply"
ESSAY = "https://tent.io/types/essay/v0#"


def ct(post_type: str, rel: str | None = None) -> dict[str, str]:
    return {"Content-Type": f'{POST_MT}; type="{post_type}"' + (f'; rel="{rel}"' if rel else "")}


async def test_a_reply_without_mentions_is_stored(tent: Tent) -> None:
    """Seed 003: replies *should* mention and ref what they reply to."""
    resp = await tent.client.post(
        "/posts", json={"type": REPLY, "content": {"text": "agreed"}}, headers=ct(REPLY)
    )
    assert resp.status == 200, await resp.text()
    post = (await resp.json())["post"]
    assert post["type"] == REPLY and "mentions" not in post


async def test_content_members_a_type_does_not_define_are_kept_and_served(tent: Tent) -> None:
    content = {"text": "hello", "client": {"name": "Example", "build": 7}}
    post = await tent.create(STATUS, content)
    resp = await tent.anon.get(tent.post_path(post["id"]))
    assert (await resp.json())["post"]["content"] == content


async def test_a_long_profile_bio_is_accepted(tent: Tent) -> None:
    meta = (await tent.feed("?types=https://tent.io/types/meta/v0"))["posts"][0]
    profile = {"name": "Alice", "bio": "b" * 1000, "website": "alice.example"}
    updated = await tent.update(meta, {**meta["content"], "profile": profile})
    assert updated["content"]["profile"] == profile


BODIES = [
    pytest.param({"type": ESSAY, "content": "not an object"}, id="malformed-content"),
    pytest.param({"type": ESSAY, "content": {}}, id="missing-required-body"),
    pytest.param({"type": ESSAY, "content": {"body": "x"}, "published_at": 1.5}, id="float"),
    pytest.param({"type": ESSAY, "content": {"body": "x"}, "unknown": 1}, id="unknown-member"),
]


@pytest.mark.parametrize("body", BODIES)
async def test_an_app_that_may_not_write_a_type_gets_403_whatever_the_body_holds(
    tent: Tent, body: dict
) -> None:
    status_writer = await authorize(tent, [STATUS], [STATUS])
    resp = await status_writer.post("/posts", json=body, headers=ct(ESSAY))
    assert resp.status == 403, await resp.text()
    assert await resp.json() == {"error": "Unauthorized"}
    resp = await tent.anon.post("/posts", json=body, headers=ct(ESSAY))
    assert resp.status == 403


@pytest.mark.parametrize("body", BODIES)
async def test_a_new_version_by_an_app_without_write_access_is_403_whatever_the_body_holds(
    tent: Tent, body: dict
) -> None:
    essay = await tent.create(ESSAY, {"body": "<p>mine</p>"})
    reader = await authorize(tent, [ESSAY.rstrip("#")], [])
    version = {**body, "version": {"parents": [{"version": essay["version"]["id"]}]}}
    resp = await reader.put(tent.post_path(essay["id"]), json=version, headers=ct(ESSAY))
    assert resp.status == 403, await resp.text()
    resp = await tent.anon.put(tent.post_path(essay["id"]), json=version, headers=ct(ESSAY))
    assert resp.status == 401


@pytest.mark.parametrize("body", BODIES)
async def test_an_import_without_the_import_scope_is_403_whatever_the_body_holds(
    tent: Tent, body: dict
) -> None:
    writer = await authorize(tent, [], [ESSAY.rstrip("#")])
    imported = {**body, "id": "imp", "entity": tent.entity}
    resp = await writer.put(
        tent.post_path("imp"), json=imported, headers=ct(ESSAY, "https://tent.io/rels/import")
    )
    assert resp.status == 403, await resp.text()


async def test_a_notification_from_a_stranger_is_403_whatever_the_body_holds(tent: Tent) -> None:
    other = "https://other.example"
    body = {"id": "x", "entity": other, "type": ESSAY, "content": "garbage"}
    resp = await tent.client.put(
        tent.post_path("x", other), json=body, headers=ct(ESSAY, "https://tent.io/rels/notification")
    )
    assert resp.status == 403
    assert await resp.json() == {"error": "Unauthorized"}


async def test_an_allowed_writer_still_gets_the_validation_error(tent: Tent) -> None:
    resp = await tent.client.post("/posts", json={"type": ESSAY, "content": {}}, headers=ct(ESSAY))
    assert resp.status == 400
    assert (await resp.json())["diff"][0]["path"] == "/content/body"
