"""A post's versions, children and mentions, selected by Accept (§3.5, D-22, D-25)."""

from __future__ import annotations

from tests.conftest import Tent

VERSIONS = "application/vnd.tent.post-versions.v0+json"
CHILDREN = "application/vnd.tent.post-children.v0+json"
MENTIONS = "application/vnd.tent.post-mentions.v0+json"


async def _list(tent: Tent, post_id: str, accept: str, query: str = "", entity: str | None = None) -> dict:
    resp = await tent.client.get(tent.post_path(post_id, entity) + query, headers={"Accept": accept})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == accept
    assert resp.headers["Vary"] == "Accept"
    return await resp.json()


async def test_versions_list_is_newest_first_with_the_version_shape(tent: Tent) -> None:
    v1 = await tent.status("v1")
    v2 = await tent.update(
        v1, {"text": "v2"}, version={"parents": [{"version": v1["version"]["id"]}], "message": "fix typo"}
    )
    body = await _list(tent, v1["id"], VERSIONS)
    assert [v["id"] for v in body["versions"]] == [v2["version"]["id"], v1["version"]["id"]]
    newest = body["versions"][0]
    assert newest == {
        "id": v2["version"]["id"],
        "type": v2["type"],
        "parents": [{"version": v1["version"]["id"]}],
        "message": "fix typo",
        "published_at": v2["version"]["published_at"],
        "received_at": v2["version"]["received_at"],
    }


async def test_versions_list_pages_with_limit(tent: Tent) -> None:
    post = await tent.status("v0")
    versions = [post]
    for i in range(4):
        versions.append(await tent.update(versions[-1], {"text": f"v{i + 1}"}))
    first = await _list(tent, post["id"], VERSIONS, "?limit=2")
    assert len(first["versions"]) == 2
    assert set(first["pages"]) == {"next", "last"}
    rest = await _list(tent, post["id"], VERSIONS, first["pages"]["next"])
    later = await _list(tent, post["id"], VERSIONS, rest["pages"]["next"])
    walked = [v["id"] for v in first["versions"] + rest["versions"] + later["versions"]]
    assert sorted(walked) == sorted(v["version"]["id"] for v in versions)
    assert "next" not in later["pages"]


async def test_head_of_each_list_gives_count(tent: Tent) -> None:
    post = await tent.status("counted")
    child = await tent.update(post, {"text": "child"})
    await tent.status("mentions it", mentions=[{"post": post["id"]}])
    await tent.status("mentions it too", mentions=[{"post": post["id"]}])
    for accept, expected, query in (
        (VERSIONS, "2", ""),
        (MENTIONS, "2", ""),
        (CHILDREN, "1", f"?version={post['version']['id']}"),
    ):
        resp = await tent.client.head(
            tent.post_path(post["id"]) + query + ("&" if query else "?") + "limit=1",
            headers={"Accept": accept},
        )
        assert resp.status == 200
        assert resp.headers["Count"] == expected, accept
        get = await tent.client.get(
            tent.post_path(post["id"]) + query + ("&" if query else "?") + "limit=1",
            headers={"Accept": accept},
        )
        assert get.headers["ETag"] == resp.headers["ETag"]
    assert child["version"]["parents"] == [{"version": post["version"]["id"]}]


async def test_children_list_names_versions_that_have_the_version_as_parent(tent: Tent) -> None:
    root = await tent.status("root")
    a = await tent.update(root, {"text": "a"})
    fork = await tent.status(
        "fork", version={"parents": [{"post": root["id"], "version": root["version"]["id"]}]}
    )
    body = await _list(tent, root["id"], CHILDREN, f"?version={root['version']['id']}")
    listed = {v["id"]: v for v in body["versions"]}
    assert set(listed) == {a["version"]["id"], fork["version"]["id"]}
    assert listed[fork["version"]["id"]]["parents"] == [
        {"post": root["id"], "version": root["version"]["id"]}
    ]
    assert listed[a["version"]["id"]]["parents"] == [{"version": root["version"]["id"]}]
    # without ?version the latest version is the parent asked about: nothing descends from it yet
    assert (await _list(tent, root["id"], CHILDREN))["versions"] == []


async def test_mentions_list_shows_who_mentions_the_post(tent: Tent) -> None:
    target = await tent.status("target")
    m1 = await tent.status("one", mentions=[{"post": target["id"]}])
    m2 = await tent.status("two", mentions=[{"post": target["id"]}, {"entity": "https://x.example"}])
    await tent.status("unrelated")
    body = await _list(tent, target["id"], MENTIONS)
    got = sorted(body["mentions"], key=lambda m: m["post"])
    assert got == sorted(
        [{"post": m1["id"], "type": m1["type"]}, {"post": m2["id"], "type": m2["type"]}],
        key=lambda m: m["post"],
    )


async def test_private_mention_is_marked_for_the_owner(tent: Tent) -> None:
    target = await tent.status("target")
    secret = await tent.status("psst", mentions=[{"post": target["id"], "public": False}])
    body = await _list(tent, target["id"], MENTIONS)
    assert body["mentions"] == [{"post": secret["id"], "type": secret["type"], "public": False}]


async def test_list_accept_with_quality_values_is_negotiated(tent: Tent) -> None:
    post = await tent.status("q")
    resp = await tent.client.get(
        tent.post_path(post["id"]), headers={"Accept": f"application/vnd.tent.post.v0+json;q=0.5, {VERSIONS}"}
    )
    assert resp.headers["Content-Type"] == VERSIONS
    resp = await tent.client.get(tent.post_path(post["id"]), headers={"Accept": f"{VERSIONS};q=0"})
    assert resp.headers["Content-Type"].startswith("application/vnd.tent.post.v0+json")


async def test_lists_of_an_unknown_post_are_404(tent: Tent) -> None:
    for accept in (VERSIONS, CHILDREN, MENTIONS):
        resp = await tent.client.get(tent.post_path("missing"), headers={"Accept": accept})
        assert resp.status == 404
