"""posts_feed: filters, the four sort orders, positions, pages, refs, counts (§3.6)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import STATUS, Tent

REPLY = "https://tent.io/types/status/v0#reply"
ESSAY = "https://tent.io/types/essay/v0#"
FEED_MT = "application/vnd.tent.posts-feed.v0+json"


def ids(feed: dict) -> list[str]:
    return [p["id"] for p in feed["posts"]]


def newest_first(*posts: dict) -> list[str]:
    """Feed order by received_at; posts created in the same millisecond tie on version id."""
    return [
        p["id"] for p in sorted(posts, key=lambda p: (p["received_at"], p["version"]["id"]), reverse=True)
    ]


async def test_feed_shows_the_latest_version_of_each_post_newest_first(tent: Tent) -> None:
    a = await tent.status("a")
    b = await tent.status("b")
    a2 = await tent.update(a, {"text": "a2"})
    feed = await tent.feed(f"?types={quote(STATUS)}")
    assert ids(feed) == newest_first(b, a)  # received_at is the post's first receipt (D-09)
    assert feed["posts"][1]["version"]["id"] == a2["version"]["id"]


async def test_feed_media_type_and_caching_headers(tent: Tent) -> None:
    resp = await tent.client.get("/posts", headers={"Accept": FEED_MT})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == FEED_MT
    assert resp.headers["Cache-Control"].endswith("must-revalidate")
    again = await tent.client.get("/posts", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


async def test_default_limit_is_25_and_limit_is_capped_at_200(tent: Tent) -> None:
    for i in range(30):
        await tent.status(f"s{i}")
    assert len((await tent.feed(f"?types={quote(STATUS)}"))["posts"]) == 25
    assert len((await tent.feed(f"?types={quote(STATUS)}&limit=1000"))["posts"]) == 30
    assert (await tent.feed("?limit=0"))["posts"] == []


async def test_the_four_sort_orders(tent: Tent) -> None:
    # received order: a, b, c. published_at: c < a < b. version.published_at: b < c < a.
    a = await tent.status("a", published_at=2000, version={"published_at": 9000})
    b = await tent.status("b", published_at=3000, version={"published_at": 7000})
    c = await tent.status("c", published_at=1000, version={"published_at": 8000})
    await tent.update(
        a, {"text": "a2"}, version={"parents": [{"version": a["version"]["id"]}], "published_at": 9500}
    )
    q = f"&types={quote(STATUS)}"
    assert ids(await tent.feed("?sort_by=received_at" + q)) == newest_first(a, b, c)
    assert ids(await tent.feed("?sort_by=published_at" + q)) == [b["id"], a["id"], c["id"]]
    assert ids(await tent.feed("?sort_by=version.published_at" + q)) == [a["id"], c["id"], b["id"]]
    assert ids(await tent.feed("?sort_by=version.received_at" + q)) == [a["id"], *newest_first(b, c)]


async def test_ties_are_broken_by_version_id(tent: Tent) -> None:
    posts = [await tent.status(f"t{i}", published_at=5000) for i in range(4)]
    feed = await tent.feed(f"?sort_by=published_at&types={quote(STATUS)}")
    expected = sorted(posts, key=lambda p: p["version"]["id"], reverse=True)
    assert ids(feed) == [p["id"] for p in expected]


async def test_since_before_until_with_and_without_version(tent: Tent) -> None:
    posts = [await tent.status(f"p{i}", published_at=1000 + i * 10) for i in range(6)]
    twin = await tent.status("twin", published_at=1020)  # same timestamp as posts[2]
    base = f"&sort_by=published_at&types={quote(STATUS)}"
    # timestamp only: posts sharing the timestamp are excluded
    assert ids(await tent.feed("?before=1020" + base)) == [posts[1]["id"], posts[0]["id"]]
    assert set(ids(await tent.feed("?since=1030" + base))) == {posts[4]["id"], posts[5]["id"]}
    # with a version id: a tuple comparison
    lower, upper = sorted([posts[2], twin], key=lambda p: p["version"]["id"])
    token = quote(f"1020 {upper['version']['id']}")
    assert ids(await tent.feed(f"?before={token}" + base))[0] == lower["id"]
    token = quote(f"1020 {lower['version']['id']}")
    assert ids(await tent.feed(f"?since={token}&limit=1" + base)) == [upper["id"]]
    # since gives the posts nearest the point (ascending, ties by version id), until the newest
    assert ids(await tent.feed("?since=1000&limit=2" + base)) == [lower["id"], posts[1]["id"]]
    assert ids(await tent.feed("?until=1000&limit=2" + base)) == [posts[5]["id"], posts[4]["id"]]
    # between: before + since (nearest since), before + until (nearest before)
    assert ids(await tent.feed("?before=1050&since=1030" + base)) == [posts[4]["id"]]
    assert ids(await tent.feed("?before=1050&since=1000&limit=1" + base)) == [posts[1]["id"]]
    assert ids(await tent.feed("?before=1050&until=1000&limit=1" + base)) == [posts[4]["id"]]


async def test_types_filter_matches_fragments_as_the_protocol_says(tent: Tent) -> None:
    plain = await tent.status("plain")
    reply = await tent.create(REPLY, {"text": "re"}, mentions=[{"post": plain["id"]}])
    essay = await tent.create(ESSAY, {"body": "<p>long</p>"})
    all_status = ids(await tent.feed("?types=" + quote("https://tent.io/types/status/v0")))
    assert all_status == newest_first(reply, plain)
    assert ids(await tent.feed("?types=" + quote(STATUS))) == [plain["id"]]
    assert ids(await tent.feed("?types=" + quote(REPLY))) == [reply["id"]]
    both = ids(await tent.feed("?types=" + quote(f"{REPLY},{ESSAY}")))
    assert both == newest_first(essay, reply)
    assert ids(await tent.feed("?types=" + quote("https://tent.io/types/status/v1"))) == []


async def test_entities_filter(tent: Tent) -> None:
    mine = await tent.status("mine")
    assert ids(await tent.feed("?types=" + quote(STATUS) + "&entities=" + quote(tent.entity))) == [mine["id"]]
    assert (await tent.feed("?entities=" + quote("https://other.example")))["posts"] == []


async def test_mentions_filter_ors_within_and_ands_across_parameters(tent: Tent) -> None:
    bob, carol = "https://bob.example", "https://carol.example"
    only_bob = await tent.status("b", mentions=[{"entity": bob}])
    only_carol = await tent.status("c", mentions=[{"entity": carol}])
    both = await tent.status("bc", mentions=[{"entity": bob}, {"entity": carol, "post": "cp"}])
    await tent.status("none")
    either = ids(await tent.feed("?mentions=" + quote(f"{bob},{carol}")))
    assert either == newest_first(both, only_carol, only_bob)
    assert ids(await tent.feed(f"?mentions={quote(bob)}&mentions={quote(carol)}")) == [both["id"]]
    assert ids(await tent.feed("?mentions=" + quote(f"{carol} cp"))) == [both["id"]]
    assert ids(await tent.feed("?mentions=" + quote(f"{carol} other"))) == []


async def test_head_gives_count_ignoring_limit_and_the_same_etag(tent: Tent) -> None:
    for i in range(3):
        await tent.status(f"c{i}")
    q = f"?limit=2&types={quote(STATUS)}"
    get = await tent.client.get("/posts" + q)
    head = await tent.client.head("/posts" + q)
    assert head.status == 200
    assert head.headers["Count"] == "3"
    assert head.headers["ETag"] == get.headers["ETag"]
    assert (await tent.client.head(f"/posts?before=0&types={quote(STATUS)}")).headers["Count"] == "0"


async def test_pages_links_follow_the_protocol(tent: Tent) -> None:
    made = [await tent.status(f"p{i}") for i in range(5)]
    by_id = {p["id"]: p for p in made}
    posts = [by_id[i] for i in reversed(newest_first(*made))]  # oldest first, as the feed sees it
    q = f"?limit=2&types={quote(STATUS)}"
    first = await tent.feed(q)
    assert ids(first) == [posts[4]["id"], posts[3]["id"]]
    assert set(first["pages"]) == {"next", "last"}
    boundary = f"{posts[3]['received_at']}+{posts[3]['version']['id']}"
    assert first["pages"]["next"] == f"?before={boundary}&limit=2&types={quote(STATUS, safe='')}"
    assert first["pages"]["last"] == f"?before={boundary}&limit=2&since=0&types={quote(STATUS, safe='')}"
    middle = await tent.feed(first["pages"]["next"])
    assert ids(middle) == [posts[2]["id"], posts[1]["id"]]
    assert set(middle["pages"]) == {"first", "prev", "next", "last"}
    assert ids(await tent.feed(middle["pages"]["prev"])) == [posts[4]["id"], posts[3]["id"]]
    last = await tent.feed(middle["pages"]["last"])
    assert ids(last) == [posts[0]["id"]]
    assert set(last["pages"]) == {"first", "prev"}


async def test_walking_next_links_sees_every_post_once_while_posts_arrive(tent: Tent) -> None:
    existing = [await tent.status(f"e{i}") for i in range(11)]
    seen: list[str] = []
    page = await tent.feed(f"?limit=3&types={quote(STATUS)}")
    while True:
        seen.extend(ids(page))
        await tent.status("arrived meanwhile")
        if "next" not in page["pages"]:
            break
        page = await tent.feed(page["pages"]["next"])
    assert seen == newest_first(*existing)


async def test_walking_prev_links_back_up_reaches_the_newest_post(tent: Tent) -> None:
    posts = [await tent.status(f"e{i}") for i in range(7)]
    page = await tent.feed(f"?limit=2&since=0&types={quote(STATUS)}")
    seen = []
    while page["posts"]:
        seen = ids(page) + seen
        page = await tent.feed(page["pages"]["prev"])
    assert seen == newest_first(*posts)


async def test_max_refs_inlines_referenced_posts(tent: Tent) -> None:
    a = await tent.status("a")
    b = await tent.status("b")
    a2 = await tent.update(a, {"text": "a2"})
    citing = await tent.status(
        "cites",
        refs=[{"post": a["id"]}, {"post": b["id"], "version": b["version"]["id"]}, {"post": "missing"}],
    )
    feed = await tent.feed(f"?limit=1&max_refs=5&types={quote(STATUS)}")
    assert ids(feed) == [citing["id"]]
    refs = {(r["id"], r["version"]["id"]) for r in feed["refs"]}
    assert refs == {(a["id"], a2["version"]["id"]), (b["id"], b["version"]["id"])}
    assert "max_refs=5" in feed["pages"]["next"]
    one = await tent.feed(f"?limit=1&max_refs=1&types={quote(STATUS)}")
    assert [r["id"] for r in one["refs"]] == [a["id"]]
    single = await tent.client.get(tent.post_path(citing["id"]) + "?max_refs=2")
    assert {r["id"] for r in (await single.json())["refs"]} == {a["id"], b["id"]}


@pytest.mark.parametrize(
    "sort_by", ["received_at", "published_at", "version.received_at", "version.published_at"]
)
async def test_page_tokens_use_the_sort_key(tent: Tent, sort_by: str) -> None:
    await tent.status("x", published_at=111, version={"published_at": 222})
    await tent.status("y", published_at=333, version={"published_at": 444})
    feed = await tent.feed(f"?limit=1&sort_by={sort_by}&types={quote(STATUS)}")
    post = feed["posts"][0]
    key = post["version"][sort_by.split(".")[1]] if sort_by.startswith("version.") else post[sort_by]
    assert feed["pages"]["next"].startswith(f"?before={key}+{post['version']['id']}")
