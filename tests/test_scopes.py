"""Scopes, as the reference server has them: `import` and `permissions` (§5.3)."""

from __future__ import annotations

from tent.canonical import version_id
from tests.app_helpers import authorize
from tests.conftest import POST_MT, STATUS, Tent

IMPORT_CT = f'{POST_MT}; type="{STATUS}"; rel="https://tent.io/rels/import"'
CT = {"Content-Type": f'{POST_MT}; type="{STATUS}"'}


def imported(post_id: str, entity: str) -> dict:
    body = {
        "id": post_id,
        "entity": entity,
        "type": STATUS,
        "content": {"text": "from my old server"},
        "published_at": 1000,
        "received_at": 1001,
        "version": {"published_at": 1000, "received_at": 1001},
    }
    body["version"]["id"] = version_id(body)
    return body


async def test_import_needs_the_import_scope(tent: Tent) -> None:
    without = await authorize(tent, [STATUS], [STATUS])
    body = imported("old1", tent.entity)
    resp = await without.put(tent.post_path("old1"), json=body, headers={"Content-Type": IMPORT_CT})
    assert resp.status == 403
    with_scope = await authorize(tent, [STATUS], [STATUS], ["import"])
    resp = await with_scope.put(tent.post_path("old1"), json=body, headers={"Content-Type": IMPORT_CT})
    assert resp.status == 200, await resp.text()
    post = (await resp.json())["post"]
    assert post["version"]["id"] == body["version"]["id"] and post["published_at"] == 1000


async def test_import_with_the_scope_still_needs_write_access_to_the_type(tent: Tent) -> None:
    client = await authorize(tent, [], ["https://tent.io/types/essay/v0"], ["import"])
    resp = await client.put(
        tent.post_path("old2"), json=imported("old2", tent.entity), headers={"Content-Type": IMPORT_CT}
    )
    assert resp.status == 403


async def test_import_of_another_entitys_post_keeps_its_entity(tent: Tent) -> None:
    body = imported("theirs", "https://old.example")
    resp = await tent.client.put(
        tent.post_path("theirs", "https://old.example"), json=body, headers={"Content-Type": IMPORT_CT}
    )
    assert resp.status == 200
    got = await tent.client.get(tent.post_path("theirs", "https://old.example"))
    assert (await got.json())["post"]["entity"] == "https://old.example"
    assert (await tent.anon.get(tent.post_path("theirs", "https://old.example"))).status == 404


async def test_import_with_a_wrong_version_id_is_rejected(tent: Tent) -> None:
    body = imported("bad", tent.entity)
    body["version"]["id"] = "f" * 64
    resp = await tent.client.put(tent.post_path("bad"), json=body, headers={"Content-Type": IMPORT_CT})
    assert resp.status == 400 and (await resp.json())["error"].startswith("Invalid version id")


async def test_without_the_permissions_scope_sharing_with_entities_stays_private(tent: Tent) -> None:
    client = await authorize(tent, [STATUS], [STATUS])
    resp = await client.post(
        "/posts",
        headers=CT,
        json={
            "type": STATUS,
            "content": {"text": "for bob"},
            "permissions": {"public": False, "entities": ["https://bob.example"]},
        },
    )
    assert resp.status == 200
    assert (await resp.json())["post"]["permissions"] == {"public": False}


async def test_without_the_permissions_scope_public_and_private_posts_still_work(tent: Tent) -> None:
    client = await authorize(tent, [STATUS], [STATUS])
    public = await client.post("/posts", headers=CT, json={"type": STATUS, "content": {"text": "all"}})
    assert "permissions" not in (await public.json())["post"]
    private = await client.post(
        "/posts",
        headers=CT,
        json={"type": STATUS, "content": {"text": "me"}, "permissions": {"public": False}},
    )
    assert (await private.json())["post"]["permissions"] == {"public": False}


async def test_with_the_permissions_scope_entities_are_kept(tent: Tent) -> None:
    client = await authorize(tent, [STATUS], [STATUS], ["permissions"])
    resp = await client.post(
        "/posts",
        headers=CT,
        json={
            "type": STATUS,
            "content": {"text": "for bob"},
            "permissions": {"public": False, "entities": ["https://bob.example"]},
        },
    )
    assert (await resp.json())["post"]["permissions"] == {
        "public": False,
        "entities": ["https://bob.example"],
    }
