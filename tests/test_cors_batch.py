"""CORS on every endpoint and the batch endpoint (§10.3, D-07, D-58)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.app_helpers import authorize
from tests.attachment_helpers import DATA, attachment_path, digest, upload
from tests.conftest import POST_MT, STATUS, Tent

ORIGIN = {"Origin": "https://app.example.com"}


@pytest.mark.parametrize(
    "path", ["/", "/posts", "/posts/x/y", "/server", "/batch", "/attachments/a/b", "/oauth/token", "/nothing"]
)
async def test_options_preflight_is_answered_everywhere_without_authentication(tent: Tent, path: str) -> None:
    resp = await tent.anon.request(
        "OPTIONS", path, headers={**ORIGIN, "Access-Control-Request-Method": "PUT"}
    )
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        assert method in resp.headers["Access-Control-Allow-Methods"]
    for header in (
        "Accept",
        "Content-Type",
        "Authorization",
        "Link",
        "Cache-Control",
        "If-Match",
        "If-None-Match",
        "Create-Delete-Post",
    ):
        assert header in resp.headers["Access-Control-Allow-Headers"]
    assert resp.headers["Access-Control-Max-Age"] == "2592000"


async def test_responses_to_requests_with_origin_carry_cors_headers_even_errors(tent: Tent) -> None:
    await upload(tent, [("photo", "a.jpeg", "image/jpeg", DATA)])
    post = await tent.status("x")
    for resp in (
        await tent.anon.get("/posts", headers=ORIGIN),
        await tent.anon.get(tent.post_path("missing"), headers=ORIGIN),
        await tent.anon.post("/posts", data=b"{", headers={**ORIGIN, "Content-Type": POST_MT}),
        await tent.anon.get(attachment_path(tent, digest(DATA)), headers=ORIGIN),
        await tent.anon.get(tent.post_path(post["id"]) + "/attachments/none", headers=ORIGIN),
        await tent.client.get("/posts", headers=ORIGIN),
    ):
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        exposed = resp.headers["Access-Control-Expose-Headers"]
        for header in (
            "Server-Authorization",
            "Link",
            "Count",
            "ETag",
            "WWW-Authenticate",
            "Attachment-Digest",
        ):
            assert header in exposed


async def test_requests_without_origin_get_no_cors_headers(tent: Tent) -> None:
    assert "Access-Control-Allow-Origin" not in (await tent.anon.get("/posts")).headers


async def test_batch_runs_sub_requests_in_order_as_the_same_principal(tent: Tent) -> None:
    a = await tent.status("a")
    secret = await tent.status("secret", permissions={"public": False})
    requests = [
        {"method": "GET", "url": tent.post_path(a["id"])},
        {"method": "HEAD", "url": f"/posts?types={quote(STATUS)}"},
        {"method": "GET", "url": tent.entity + tent.post_path(secret["id"])},
        {"method": "GET", "url": tent.post_path("missing")},
    ]
    resp = await tent.client.post("/batch", json=requests)
    assert resp.status == 200
    results = await resp.json()
    assert [r["status"] for r in results] == [200, 200, 200, 404]
    assert results[0]["body"]["post"]["id"] == a["id"]
    assert results[0]["headers"]["Content-Type"].startswith(POST_MT)
    assert results[1]["headers"]["Count"] == "2" and results[1]["body"] is None
    assert results[2]["body"]["post"]["content"] == {"text": "secret"}
    assert results[3]["body"] == {"error": "Not Found"}


async def test_batch_sub_request_cannot_read_what_the_principal_cannot(tent: Tent) -> None:
    secret = await tent.status("hidden", permissions={"public": False})
    essay = await tent.create(
        "https://tent.io/types/essay/v0#", {"body": "private essay"}, permissions={"public": False}
    )
    for client in (tent.anon, await authorize(tent, ["https://tent.io/types/essay/v0"], [])):
        resp = await client.post(
            "/batch",
            json=[
                {"url": tent.post_path(secret["id"])},
                {"url": "/posts?limit=200"},
                {"url": tent.post_path(secret["id"]), "headers": {"Authorization": tent.client.creds.id}},
            ],
        )
        results = await resp.json()
        assert results[0]["status"] == 404 and results[2]["status"] == 404
        assert "hidden" not in str(results)
    # the essay reader does see the essay through the batch, as it would directly
    results = await (await client.post("/batch", json=[{"url": tent.post_path(essay["id"])}])).json()
    assert results[0]["status"] == 200


async def test_batch_refuses_writes_nesting_foreign_urls_and_too_many(tent: Tent) -> None:
    for body in (
        [{"method": "POST", "url": "/posts"}],
        [{"url": "/batch"}],
        [{"url": "https://evil.example/x"}],
        [{"url": "//evil.example/x"}],
        [{"url": "/attachments/a/b"}],
        [{"url": 5}],
        {"url": "/posts"},
        [{"url": "/posts"}] * 51,
    ):
        resp = await tent.client.post("/batch", json=body)
        assert resp.status in (400, 413), body
        assert "error" in await resp.json()
    bad = await tent.client.post("/batch", data=b"not json", headers={"Content-Type": "application/json"})
    assert bad.status == 400


async def test_batch_items_are_validated_like_direct_requests(tent: Tent) -> None:
    results = await (await tent.client.post("/batch", json=[{"url": "/posts?limit=abc"}])).json()
    assert results[0]["status"] == 400
    assert results[0]["body"]["error"].startswith("Invalid limit")
