"""Discovery: the entity URL points at the meta post, which lists every endpoint."""

from __future__ import annotations

import re

from tests.conftest import Tent

META_REL = "https://tent.io/rels/meta-post"
ENDPOINTS = {
    "oauth_auth",
    "oauth_token",
    "posts_feed",
    "post",
    "new_post",
    "post_attachment",
    "attachment",
    "batch",
    "server_info",
    "discover",
}


def _link(header: str) -> str:
    m = re.match(r'<([^>]+)>; rel="([^"]+)"', header)
    assert m and m.group(2) == META_REL, header
    return m.group(1)


async def test_head_of_entity_url_links_the_meta_post(tent: Tent) -> None:
    resp = await tent.client.head("/")
    assert resp.status == 200
    url = _link(resp.headers["Link"])
    assert url.startswith(tent.entity + "/posts/http%3A%2F%2F127.0.0.1%3A")


async def test_get_of_entity_url_has_link_header_and_html_link_tag(tent: Tent) -> None:
    resp = await tent.client.get("/")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    url = _link(resp.headers["Link"])
    page = await resp.text()
    assert f'<link href="{url}" rel="{META_REL}" />' in page


async def test_meta_post_lists_one_server_with_every_endpoint(tent: Tent) -> None:
    url = _link((await tent.client.head("/")).headers["Link"])
    resp = await tent.client.get(
        url.removeprefix(tent.entity), headers={"Accept": "application/vnd.tent.post.v0+json"}
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == (
        'application/vnd.tent.post.v0+json; type="https://tent.io/types/meta/v0#"'
    )
    meta = (await resp.json())["post"]
    assert meta["type"] == "https://tent.io/types/meta/v0#"
    assert meta["entity"] == tent.entity
    assert "permissions" not in meta
    content = meta["content"]
    assert content["entity"] == tent.entity
    [server] = content["servers"]
    assert server["version"] == "0.3" and server["preference"] == 0
    assert set(server["urls"]) == ENDPOINTS
    assert server["urls"]["post"] == tent.entity + "/posts/{entity}/{post}"
    assert server["urls"]["discover"] == tent.entity + "/discover?entity={entity}"


async def test_meta_post_is_not_recreated_on_restart(make_server, new_database) -> None:
    dsn = await new_database()
    first = await make_server(database_url=dsn)
    link1 = (await first.client.head("/")).headers["Link"]
    await first.close()
    second = await make_server(database_url=dsn, entity=first.entity)
    assert (await second.client.head("/")).headers["Link"] == link1


async def test_changed_entity_urls_make_a_new_meta_version(make_server, new_database) -> None:
    dsn = await new_database()
    first = await make_server(database_url=dsn, entity="http://127.0.0.1:1/a")
    url = _link((await first.client.head("/a/")).headers["Link"])
    meta_id = url.rsplit("/", 1)[1]
    await first.close()
    second = await make_server(database_url=dsn, entity="http://127.0.0.1:1/a")
    resp = await second.client.get(
        "/a" + second.post_path(meta_id, "http://127.0.0.1:1/a"),
        headers={"Accept": "application/vnd.tent.post-versions.v0+json"},
    )
    assert resp.status == 200
    assert len((await resp.json())["versions"]) == 1


async def test_server_info_answers_with_implementation_and_protocol_version(tent: Tent) -> None:
    resp = await tent.client.get("/server")
    assert resp.status == 200
    info = await resp.json()
    assert info["tent_version"] == "0.3"
    assert info["entity"] == tent.entity
    assert info["name"] and info["version"]
    assert info["authorization_requests"] == tent.entity + "/oauth/requests"
