"""Posts as readers that are not apps see them, serialized once per version (D-98)."""

from __future__ import annotations

from typing import Any

import orjson

from tent.core.principal import ANONYMOUS, Principal
from tent.core.render import render_post
from tent.handlers.common import SERVICES
from tent.services.rendering import Views
from tests.conftest import Tent
from tests.fed_helpers import eventually

OWNER = Principal("owner")
PEER = Principal("peer", entity="https://peer.example")


def _post(public: bool = True) -> dict[str, Any]:
    return {
        "id": "p1",
        "entity": "https://me.example",
        "type": "https://tent.io/types/status/v0#",
        "content": {"text": "hello"},
        "published_at": 1,
        "received_at": 2,
        "version": {"id": "v1", "published_at": 1, "received_at": 2},
        "app": {"id": "app1", "name": "Status"},
        "mentions": [{"entity": "https://hidden.example", "public": False}],
        "permissions": {"public": public},
    }


def test_readers_that_are_not_apps_share_one_rendering_of_a_version() -> None:
    views = Views()
    post = _post()
    seen = views.of(post, ANONYMOUS)
    assert views.of(post, PEER) is seen
    assert orjson.dumps(seen) == orjson.dumps(render_post(post, ANONYMOUS))
    assert b"received_at" not in orjson.dumps(seen) and b"hidden.example" not in orjson.dumps(seen)


def test_apps_get_their_own_rendering_with_the_server_members() -> None:
    views = Views()
    views.of(_post(), ANONYMOUS)
    seen = views.of(_post(), OWNER)
    assert seen == render_post(_post(), OWNER)
    assert seen["received_at"] == 2 and seen["app"]["id"] == "app1"


def test_a_public_and_a_private_copy_of_one_version_render_apart() -> None:
    views = Views()
    public, private = views.of(_post(True), PEER), views.of(_post(False), PEER)
    assert b'"permissions"' not in orjson.dumps(public)
    assert b'"permissions":{"public":false}' in orjson.dumps(private)


def test_views_kept_are_bounded() -> None:
    views = Views(kept=3)
    for n in range(10):
        views.of(dict(_post(), id=f"p{n}"), ANONYMOUS)
    assert len(views._views) <= 3


async def test_a_delete_empties_the_views(tent: Tent) -> None:
    post = await tent.status("soon gone")
    assert post["id"] in [p["id"] for p in (await tent.feed(client=tent.anon))["posts"]]
    views = tent.server.app[SERVICES].views
    assert views._views
    assert (await tent.client.delete(tent.post_path(post["id"]))).status == 200
    await eventually(lambda: _empty(views))
    assert (await tent.anon.get(tent.post_path(post["id"]))).status == 404


async def _empty(views: Views) -> bool:
    return not views._views
