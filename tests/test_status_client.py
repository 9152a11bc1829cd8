"""`tent status`: the command-line status client, run in-process and as a real subprocess
against live servers; it must speak only the protocol (discovery, Hawk, the meta post's URLs)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tent.auth.hawk import Credentials
from tent.client import config as config_file
from tent.client import login as login_module
from tent.client.cli import run_argv
from tent.client.commands import normalise_status, parse_post_ref
from tent.client.discovery import discover
from tent.client.session import ClientError, TentSession, http_session
from tests.conftest import STATUS, Tent

SUBSCRIPTION = "https://tent.io/types/subscription/v0"
REPOST = "https://tent.io/types/repost/v0"


class Run:
    """The outcome of one in-process `tent status …` command."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)


async def status(*argv: str, config: Path, **kwargs: Any) -> Run:
    out, err = io.StringIO(), io.StringIO()
    # Options first: post ids may start with "-", so tests pass them after "--" as users must.
    code = await run_argv([argv[0], "--config", str(config), *argv[1:]], out=out, err=err, **kwargs)
    return Run(code, out.getvalue(), err.getvalue())


async def pending_requests(tent: Tent) -> list[dict]:
    listing = await (await tent.client.get("/oauth/requests")).json()
    return [e for e in listing["logs"] if e["result"] in ("sent", "got")]


async def decide_when_asked(tent: Tent, result: str, code_source: Callable[[], str] | None = None) -> dict:
    """Wait for the client's authorization request, then decide it as the owner."""
    for _ in range(400):
        pending = await pending_requests(tent)
        if pending:
            entry = pending[0]
            if code_source is not None:
                shown = re.search(r"\(code (\d{6})\)", code_source())
                assert shown and str(entry["request"]["code"]) == shown.group(1)
            resp = await tent.client.put(f"/oauth/requests/{entry['stamp']}", json={"result": result})
            assert resp.status == 200, await resp.text()
            return entry
        await asyncio.sleep(0.025)
    raise AssertionError("the client never sent an authorization request")


async def login_decided(tent: Tent, config: Path, result: str = "yes") -> Run:
    """`tent status login`, polling quickly, while the owner answers `result` to its request."""
    out, err = io.StringIO(), io.StringIO()
    task = asyncio.create_task(run_argv(
        ["login", tent.entity, "--config", str(config), "--poll-interval", "0.05"], out=out, err=err))
    await decide_when_asked(tent, result, out.getvalue)
    code = await asyncio.wait_for(task, 20)
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "conf" / "tent" / "status.json"


@pytest.fixture
async def me(tent: Tent, config: Path) -> Tent:
    """A server whose owner has logged the status client in (authorization request, approved)."""
    result = await login_decided(tent, config)
    assert result.code == 0, result.err
    return tent


async def follow_redirects(url: str) -> None:
    """Stands in for the web browser: the test-mode server redirects straight to the callback."""
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200, await resp.text()


# -- login --------------------------------------------------------------------------------------


async def test_login_via_authorization_request_saves_0600_credentials_that_work(
    tent: Tent, config: Path
) -> None:
    result = await login_decided(tent, config)
    assert result.code == 0, result.err
    assert f"Approve this app at {tent.entity}/owner (code " in result.out
    assert f"Logged in as {tent.entity}" in result.out
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    saved = json.loads(config.read_text())
    assert saved["entity"] == tent.entity and "pending" not in saved
    assert saved["servers"][0]["urls"]["new_post"] == tent.base + "/posts"
    assert set(saved["token"]) == {"id", "hawk_key", "hawk_algorithm", "token_type"}
    app = await (await tent.client.get(tent.post_path(saved["app_id"]))).json()
    assert app["post"]["content"]["name"] == "Tent status (command line)"
    assert app["post"]["content"]["types"]["write"] == [
        "https://tent.io/types/status/v0", REPOST, SUBSCRIPTION, "https://tent.io/types/delete/v0"]
    posted = await status("post", "works", config=config)
    assert posted.code == 0, posted.err


@pytest.mark.parametrize("how", ["flag", "fallback"])
async def test_login_via_oauth_loopback_redirect(
    tent: Tent, config: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    argv = ["login", tent.entity, "--name", "My CLI"]
    if how == "flag":
        argv.append("--oauth")
    else:  # a server whose server_info does not offer authorization requests
        async def plain_server_info(session: TentSession) -> dict:
            return {"name": "some other server", "tent_version": "0.3"}

        monkeypatch.setattr(login_module, "server_info", plain_server_info)
    opened: list[str] = []

    async def browser(url: str) -> None:
        opened.append(url)
        await follow_redirects(url)

    result = await status(*argv, config=config, open_url=browser)
    assert result.code == 0, result.err
    assert opened and opened[0].startswith(tent.base + "/oauth/authorize?client_id=")
    assert "state=" in opened[0] and opened[0] in result.out
    saved = json.loads(config.read_text())
    app = await (await tent.client.get(tent.post_path(saved["app_id"]))).json()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", app["post"]["content"]["redirect_uri"])
    assert app["post"]["content"]["name"] == "My CLI"
    assert await pending_requests(tent) == []
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    posted = await status("post", "via oauth", "--json", config=config)
    assert posted.code == 0 and posted.json()["post"]["content"]["text"] == "via oauth"


async def test_denied_login_exits_non_zero_and_saves_nothing(
    tent: Tent, config: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh.json"
    denied = await login_decided(tent, fresh, "no")
    assert denied.code == 1 and denied.err == "error: the owner denied this app\n"
    assert not fresh.exists()
    after = await status("post", "nope", config=fresh)
    assert after.code == 1 and "not logged in" in after.err

    assert (await login_decided(tent, config, "yes")).code == 0
    before = config.read_bytes()
    assert (await login_decided(tent, config, "no")).code == 1
    assert config.read_bytes() == before  # an earlier login survives a denied new one
    assert (await status("post", "still logged in", config=config)).code == 0


async def test_login_gives_up_after_timeout_and_cancels_its_request(tent: Tent, config: Path) -> None:
    result = await status("login", tent.entity, "--poll-interval", "0.05", "--timeout", "0.3",
                          config=config)
    assert result.code == 1 and "gave up waiting for approval" in result.err
    listing = await (await tent.client.get("/oauth/requests")).json()
    assert [e["result"] for e in listing["logs"]] == ["abort"]


async def test_no_wait_login_finishes_once_the_owner_approves(tent: Tent, config: Path) -> None:
    started = await status("login", tent.entity, "--no-wait", "--json", config=config)
    assert started.code == 0, started.err
    assert started.json()["status"] == "pending" and "Approve this app at" in started.err
    early = await status("post", "too early", config=config)
    assert early.code == 1 and "still waiting for approval" in early.err
    [entry] = await pending_requests(tent)
    assert (await tent.client.put(f"/oauth/requests/{entry['stamp']}", json={"result": "yes"})).status == 200
    late = await status("post", "now it works", config=config)
    assert late.code == 0, late.err
    assert "pending" not in json.loads(config.read_text())


# -- posting ------------------------------------------------------------------------------------


async def test_post_plain_reply_and_mention(me: Tent, config: Path, make_server: Any) -> None:
    other = await make_server()
    plain = await status("post", "hello tent", "--json", config=config)
    assert plain.code == 0, plain.err
    first = plain.json()["post"]
    assert first["type"] == STATUS and first["content"] == {"text": "hello tent"}
    stored = await (await me.client.get(me.post_path(first["id"]))).json()
    assert stored["post"]["content"]["text"] == "hello tent"

    human = await status("post", "just the url", config=config)
    assert re.fullmatch(re.escape(me.entity) + r"/posts/[^/\s]+/[-0-9A-Za-z_]+\n", human.out), human.out

    url = me.base + me.post_path(first["id"])
    reply = await status("post", "a reply", "--reply-to", url, "--mention", other.entity, "--json",
                         config=config)
    assert reply.code == 0, reply.err
    post = reply.json()["post"]
    assert post["type"] == "https://tent.io/types/status/v0#reply"
    assert post["refs"] == [{"post": first["id"], "type": STATUS}]
    assert {"post": first["id"], "type": STATUS} in post["mentions"]
    assert {"entity": other.entity} in post["mentions"]

    by_pair = await status("post", "reply by entity and id", "--reply-to", f"{me.entity} {first['id']}",
                           "--json", config=config)
    assert by_pair.json()["post"]["refs"] == [{"post": first["id"], "type": STATUS}]
    missing = await status("post", "reply to nothing", "--reply-to", "nosuchpost", config=config)
    assert missing.code == 1 and missing.err == f"error: no post nosuchpost on {me.entity}\n"


async def test_status_limit_counts_256_code_points_after_nfc(
    me: Tent, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decomposed = "e\u0301" * 256  # 512 code points as typed, 256 "é" once composed
    ok = await status("post", decomposed, "--json", config=config)
    assert ok.code == 0, ok.err
    assert ok.json()["post"]["content"]["text"] == "\u00e9" * 256

    requests: list[str] = []
    real_fetch = TentSession.fetch

    async def counting_fetch(self: TentSession, method: str, url: str, **kw: Any) -> Any:
        requests.append(url)
        return await real_fetch(self, method, url, **kw)

    monkeypatch.setattr(TentSession, "fetch", counting_fetch)
    too_long = await status("post", "e\u0301" * 257, config=config)
    assert too_long.code == 1 and requests == []
    assert too_long.err == ("error: the status is 257 characters long (after Unicode NFC normalisation); "
                            "at most 256 are allowed\n")
    assert normalise_status("a" * 256) == "a" * 256
    with pytest.raises(ClientError):
        normalise_status("a" * 257)


# -- timeline -----------------------------------------------------------------------------------


async def test_timeline_shows_statuses_and_a_repost_newest_first_with_paging(me: Tent, config: Path) -> None:
    base = int(time.time() * 1000) - 60_000
    olds = [await me.status(f"status {i}", published_at=base + i * 1000) for i in range(3)]
    await me.create("https://tent.io/types/essay/v0#", {"body": "not a status"}, published_at=base + 5000)
    reposted = await status("repost", "--", me.entity, olds[0]["id"], config=config)
    assert reposted.code == 0, reposted.err

    page1 = await status("timeline", "--limit", "2", "--json", config=config)
    assert page1.code == 0, page1.err
    feed = page1.json()
    assert [p["type"] for p in feed["posts"]] == [f"{REPOST}#{STATUS}", STATUS]
    assert feed["posts"][1]["content"]["text"] == "status 2"
    assert "next" in feed["pages"]

    human = await status("timeline", "--limit", "2", config=config)
    lines = human.out.splitlines()
    assert f"reposted {me.entity}" in lines[0] and lines[1] == "    status 0"
    assert lines[3] == "    status 2"
    token = re.search(r"--before (\S+)", human.out)
    assert token, human.out

    page2 = await status("timeline", "--page", "next", "--json", config=config)
    assert [p["content"]["text"] for p in page2.json()["posts"]] == ["status 1", "status 0"]
    by_token = await status("timeline", "--limit", "2", "--before", token.group(1), "--json", config=config)
    assert [p["content"]["text"] for p in by_token.json()["posts"]] == ["status 1", "status 0"]
    end = await status("timeline", "--page", "next", config=config)
    assert end.code == 1 and "no next page" in end.err


async def test_timeline_shows_the_ref_of_a_repost_it_cannot_fetch(me: Tent, config: Path) -> None:
    gone = "https://gone.example"
    await me.create(f"{REPOST}#{STATUS}", refs=[{"entity": gone, "post": "lost", "type": STATUS}],
                    mentions=[{"entity": gone, "post": "lost"}])
    result = await status("timeline", config=config)
    assert result.code == 0, result.err
    assert f"reposted {gone} lost (not available)" in result.out


# -- follow, repost, delete ---------------------------------------------------------------------


async def subscriptions(tent: Tent, entity: str) -> list[dict]:
    """Status and repost subscriptions; with federation the server may add its own subscription
    to the peer's meta posts (§7.2 step 13), which is not the client's to create or delete."""
    feed = await tent.feed(f"?types={SUBSCRIPTION}&mentions={entity}")
    return [p for p in feed["posts"] if not p["type"].endswith("/meta/v0")]


async def test_follow_creates_subscription_posts_and_unfollow_deletes_them(
    me: Tent, config: Path, make_server: Any
) -> None:
    other = await make_server()
    result = await status("follow", other.entity, config=config)
    assert result.code == 0 and result.out == f"Following {other.entity}.\n", result.err
    subs = await subscriptions(me, other.entity)
    followed = [f"{SUBSCRIPTION}#{REPOST}", f"{SUBSCRIPTION}#{STATUS.rstrip('#')}"]
    assert sorted(p["type"] for p in subs) == followed
    for sub in subs:
        assert sub["content"]["type"] == sub["type"].split("#", 1)[1]
        assert sub["mentions"] == [{"entity": other.entity}]
        assert sub["permissions"] == {"public": False, "entities": [other.entity]}

    again = await status("follow", other.entity, "--json", config=config)
    assert again.code == 0 and again.json()["created"] == [] and len(again.json()["existing"]) == 2
    assert len(await subscriptions(me, other.entity)) == 2

    gone = await status("unfollow", other.entity, "--json", config=config)
    assert gone.code == 0 and sorted(gone.json()["deleted"]) == sorted(p["id"] for p in subs)
    assert await subscriptions(me, other.entity) == []
    nothing = await status("unfollow", other.entity, config=config)
    assert nothing.out == f"Not following {other.entity}; nothing to do.\n"
    undiscoverable = await status("follow", "http://127.0.0.1:9", config=config)
    assert undiscoverable.code == 1 and undiscoverable.err.startswith("error: cannot reach http://127.0.0.1:9")


async def test_repost_refs_and_mentions_the_original(me: Tent, config: Path) -> None:
    original = await me.status("worth sharing")
    url = me.base + me.post_path(original["id"])
    result = await status("repost", url, "--json", config=config)
    assert result.code == 0, result.err
    post = result.json()["post"]
    assert post["type"] == f"{REPOST}#{STATUS}"
    assert post["refs"] == [{"post": original["id"], "type": STATUS}]
    assert post["mentions"] == [{"post": original["id"]}]
    missing = await status("repost", me.entity, "nope", config=config)
    expected = f"error: cannot get the post to repost: no post nope on {me.entity}\n"
    assert missing.code == 1 and missing.err == expected


async def test_delete_removes_the_post(me: Tent, config: Path) -> None:
    post = (await status("post", "short-lived", "--json", config=config)).json()["post"]
    result = await status("delete", "--json", "--", post["id"], config=config)
    assert result.code == 0, result.err
    body = result.json()
    assert body["deleted"] == post["id"] and body["post"]["type"] == "https://tent.io/types/delete/v0#"
    assert (await me.client.get(me.post_path(post["id"]))).status == 404
    again = await status("delete", "--", post["id"], config=config)
    assert again.code == 1 and again.err == f"error: no post {post['id']} on {me.entity}\n"


async def test_every_json_output_parses(me: Tent, config: Path, make_server: Any) -> None:
    other = await make_server()
    post = (await status("post", "json please", "--json", config=config)).json()["post"]
    outputs = [
        await status("timeline", "--json", config=config),
        await status("follow", other.entity, "--json", config=config),
        await status("unfollow", other.entity, "--json", config=config),
        await status("repost", "--json", "--", me.entity, post["id"], config=config),
        await status("delete", "--json", "--", post["id"], config=config),
    ]
    for output in outputs:
        assert output.code == 0, output.err
        assert isinstance(output.json(), dict) and output.out.count("\n") == 1


# -- protocol details ---------------------------------------------------------------------------


async def test_config_file_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "status.json"
    old = os.umask(0)
    try:
        config_file.save(path, {"entity": "https://me.example", "token": {"hawk_key": "secret"}})
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
        path.chmod(0o644)
        config_file.save(path, {"entity": "https://me.example"})
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)
    assert config_file.load(path) == {"entity": "https://me.example"}
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]  # no temporary file left


def test_config_location_follows_flag_env_and_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TENT_STATUS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_file.config_path() == tmp_path / "xdg" / "tent" / "status.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_file.config_path() == tmp_path / "home" / ".config" / "tent" / "status.json"
    monkeypatch.setenv("TENT_STATUS_CONFIG", str(tmp_path / "env.json"))
    assert config_file.config_path() == tmp_path / "env.json"
    assert config_file.config_path(str(tmp_path / "flag.json")) == tmp_path / "flag.json"


def test_post_references_in_every_form() -> None:
    me, template = "https://me.example", "https://api.example/p/{entity}/{post}"
    assert parse_post_ref("abc", me) == (me, "abc")
    assert parse_post_ref("https://bob.example xyz", me) == ("https://bob.example", "xyz")
    assert parse_post_ref("https://api.example/p/https%3A%2F%2Fbob.example/xyz", me, [template]) == (
        "https://bob.example", "xyz")
    assert parse_post_ref("https://other.example/posts/http%3A%2F%2Fb.example%2Fu/id1?version=v", me) == (
        "http://b.example/u", "id1")
    unencoded = "https://other.example/posts/http://b.example/id2"
    assert parse_post_ref(unencoded, me) == ("http://b.example", "id2")
    assert parse_post_ref("tent+https://bob.example?post=p9", me) == ("https://bob.example", "p9")
    with pytest.raises(ClientError):
        parse_post_ref("https://bob.example/", me)


async def fake_server(unused_port: int, routes: Callable[[web.Application, str], None]) -> TestServer:
    app = web.Application()
    base = f"http://127.0.0.1:{unused_port}"
    routes(app, base)
    server = TestServer(app, host="127.0.0.1", port=unused_port)
    await server.start_server()
    return server


async def test_discovery_falls_back_to_get_and_html_links_and_checks_the_entity(
    tent: Tent, unused_tcp_port_factory: Callable[[], int]
) -> None:
    meta = (await (await tent.anon.get("/")).text())
    assert "https://tent.io/rels/meta-post" in meta

    def routes(app: web.Application, base: str) -> None:
        async def root(request: web.Request) -> web.Response:
            if request.method == "HEAD":
                return web.Response(content_type="text/html")
            return web.Response(content_type="text/html", text=(
                '<html><head><link href="/wrong" rel="https://tent.io/rels/meta-post">'
                '<link href="/meta" rel="https://tent.io/rels/meta-post"></head></html>'))

        async def meta_post(request: web.Request) -> web.Response:
            return web.json_response({"post": {
                "id": "meta", "entity": base, "type": "https://tent.io/types/meta/v0#",
                "content": {"entity": base, "servers": [
                    {"version": "0.3", "preference": 1, "urls": {"new_post": "https://second.example/posts"}},
                    {"version": "0.3", "preference": 0, "urls": {"new_post": base + "/posts"}},
                ]}}})

        async def wrong(request: web.Request) -> web.Response:
            body = await meta_post(request)
            return web.Response(body=body.body.replace(base.encode(), b"https://someone.else"),
                                content_type="application/json")

        async def solo(request: web.Request) -> web.Response:
            return web.Response(headers={"Link": '</wrong>; rel="https://tent.io/rels/meta-post"'})

        app.router.add_get("/", root)
        app.router.add_get("/solo", solo)
        app.router.add_get("/meta", meta_post)
        app.router.add_get("/wrong", wrong)

    server = await fake_server(unused_tcp_port_factory(), routes)
    try:
        base = f"http://127.0.0.1:{server.port}"
        async with http_session() as http:
            found = await discover(http, base)
            assert found.entity == base and found.servers[0]["urls"]["new_post"] == base + "/posts"
            live = await discover(http, tent.entity)
            assert live.entity == tent.entity
            assert live.servers[0]["urls"]["posts_feed"] == tent.base + "/posts"
            with pytest.raises(ClientError, match=r"/wrong is not a meta post of http://127\.0\.0\.1:\d+/solo"):
                await discover(http, base + "/solo")
            with pytest.raises(ClientError, match="does not link to a Tent meta post"):
                await discover(http, base + "/other")
    finally:
        await server.close()


async def test_a_wrong_server_authorization_is_refused(unused_tcp_port_factory: Callable[[], int]) -> None:
    seen: list[str | None] = []

    def routes(app: web.Application, base: str) -> None:
        async def feed(request: web.Request) -> web.Response:
            seen.append(request.headers.get("Authorization"))
            return web.json_response({"posts": []}, headers={"Server-Authorization": 'Hawk mac="AAAA"'})

        app.router.add_get("/posts", feed)

    server = await fake_server(unused_tcp_port_factory(), routes)
    try:
        base = f"http://127.0.0.1:{server.port}"
        async with http_session() as http:
            session = TentSession(http, [{"preference": 0, "urls": {"posts_feed": base + "/posts"}}],
                                  Credentials("key-id", "secret"), "app-id")
            with pytest.raises(ClientError, match="Server-Authorization"):
                await session.call("GET", "posts_feed")
            unsigned = session.signed_as(None)
            assert (await unsigned.call("GET", "posts_feed")).json() == {"posts": []}  # nothing to check
            assert str(seen[0]).startswith('Hawk id="key-id"') and seen[1] is None
    finally:
        await server.close()


async def test_unreachable_server_is_one_error_line(
    tmp_path: Path, unused_tcp_port_factory: Callable[[], int]
) -> None:
    port = unused_tcp_port_factory()
    config = tmp_path / "status.json"
    config_file.save(config, {
        "entity": f"http://127.0.0.1:{port}", "app_id": "a",
        "servers": [{"preference": 0, "urls": {"new_post": f"http://127.0.0.1:{port}/posts"}}],
        "token": {"id": "t", "hawk_key": "k", "hawk_algorithm": "sha256"},
    })
    result = await status("post", "hello", config=config)
    assert result.code == 1 and result.err.startswith(f"error: cannot reach http://127.0.0.1:{port}")
    assert "Traceback" not in result.err and result.err.count("\n") == 1
    missing = await status("timeline", config=tmp_path / "none.json")
    assert missing.code == 1 and "tent status login" in missing.err


def test_the_client_uses_only_the_protocol() -> None:
    """No database, no server internals: only the pure Hawk module and pure protocol rules
    (statuses, shared with the server's own pages; names, links and entity URLs, shared with
    the server's discovery) are shared."""
    pure = ("statuses", "type_uris", "types", "links", "entities", "media")
    shared = ("tent.client", "tent.auth.hawk", *(f"tent.core.{name}" for name in pure))
    for source in Path(__file__).parent.parent.joinpath("tent", "client").glob("*.py"):
        text = source.read_text()
        imports = re.findall(r"^\s*from (tent\.[\w.]+) import (\w+)|^\s*import (tent\.[\w.]+)", text, re.M)
        names = [f"{a}.{b}" if a else c for a, b, c in imports]
        assert all(name.startswith(shared) for name in names), (source, names)
        assert "asyncpg" not in text


# -- issue 11: the client's rough edges ----------------------------------------------------------


def saved(config: Path) -> dict:
    return json.loads(config.read_text())


async def test_logging_in_again_keeps_the_working_token_until_the_new_one_is_approved(
    me: Tent, config: Path
) -> None:
    before = saved(config)
    again = await status("login", me.entity, "--no-wait", config=config)
    assert again.code == 0, again.err
    assert saved(config)["token"] == before["token"], "the working token is kept"
    still = await status("post", "still posting with the old token", config=config)
    assert still.code == 0, still.err
    [entry] = await pending_requests(me)
    assert (await me.client.put(f"/oauth/requests/{entry['stamp']}", json={"result": "yes"})).status == 200
    switched = await status("post", "now with the new one", config=config)
    assert switched.code == 0, switched.err
    after = saved(config)
    assert after["token"] != before["token"] and after["app_id"] != before["app_id"]
    assert "pending" not in after


async def test_a_denied_relogin_leaves_the_saved_login_working(me: Tent, config: Path) -> None:
    before = saved(config)
    denied = await login_decided(me, config, "no")
    assert denied.code == 1 and "denied" in denied.err
    assert saved(config) == before
    assert (await status("post", "still fine", config=config)).code == 0


async def test_a_revoked_token_says_to_log_in_again(me: Tent, config: Path) -> None:
    token_id = saved(config)["token"]["id"]
    creds = (await (await me.client.get(me.post_path(token_id))).json())["post"]
    grant = creds["mentions"][0]["post"]
    assert (await me.client.delete(me.post_path(grant))).status == 200
    result = await status("post", "after revoking", config=config)
    assert result.code == 1
    assert result.err == "error: this app's access was revoked: run `tent status login` again\n"


async def test_errors_name_the_missing_post(me: Tent, config: Path) -> None:
    result = await status("delete", "--", "nosuchpost", config=config)
    assert result.code == 1 and result.err == f"error: no post nosuchpost on {me.entity}\n"
    reply = await status("post", "hm", "--reply-to", "nosuchpost", config=config)
    assert reply.err == f"error: no post nosuchpost on {me.entity}\n"


async def test_post_prints_its_url_and_the_timeline_shows_the_timezone(me: Tent, config: Path) -> None:
    posted = await status("post", "where am I", config=config)
    assert posted.code == 0, posted.err
    url = posted.out.strip()
    assert url.startswith(me.base + "/posts/") or url.startswith(me.entity + "/posts/"), url
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200 and (await resp.json())["post"]["content"]["text"] == "where am I"
    timeline = await status("timeline", config=config)
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d (UTC|[A-Z]{2,5}|[+-]\d{4})  "
    assert re.search(stamp, timeline.out, re.M), timeline.out


async def test_deliveries_show_who_has_not_got_a_post_yet(me: Tent, config: Path) -> None:
    nobody = "http://127.0.0.1:9"  # discard port: nothing listens
    posted = await status("post", "hello there", "--mention", nobody, "--json", config=config)
    post_id = posted.json()["post"]["id"]
    shown = await status("deliveries", "--", post_id, config=config)
    assert shown.code == 0, shown.err
    assert shown.out.startswith(f"pending  {nobody}  ("), shown.out
    mine = await status("deliveries", "--", "nosuchpost", config=config)
    assert mine.err == f"error: no post nosuchpost on {me.entity}\n"


async def test_whoami_private_attach_and_logout(me: Tent, config: Path, tmp_path: Path) -> None:
    who = await status("whoami", "--json", config=config)
    assert who.code == 0 and who.json()["entity"] == me.entity
    photo = tmp_path / "tiny.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    friend = "https://friend.example"
    posted = await status("post", "for a friend", "--private", "--mention", friend, "--attach", str(photo),
                          "--json", config=config)
    assert posted.code == 0, posted.err
    post = (await (await me.client.get(me.post_path(posted.json()["post"]["id"]))).json())["post"]
    assert post["permissions"] == {"public": False, "entities": [friend]}
    (attachment,) = post["attachments"]
    assert (attachment["name"], attachment["content_type"], attachment["size"]) == (
        "tiny.png", "image/png", photo.stat().st_size)
    app = (await (await me.client.get(me.post_path(saved(config)["app_id"]))).json())["post"]
    assert not app["content"]["url"].startswith("https://tent.io"), "no borrowed endorsement"
    out = await status("logout", config=config)
    assert out.code == 0 and "Logged out of" in out.out and not config.exists()
    assert (await status("whoami", config=config)).code == 1


# -- the real console entry ---------------------------------------------------------------------


def _tent_command() -> list[str]:
    script = Path(sys.executable).with_name("tent")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tent"]


async def _subprocess(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*_tent_command(), "status", *argv, env=env,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_console_entry_logs_in_posts_and_reads_in_a_subprocess(tent: Tent, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENT_")}
    env["TENT_STATUS_CONFIG"] = str(tmp_path / "cfg" / "status.json")
    login = asyncio.ensure_future(
        _subprocess("login", tent.entity, "--poll-interval", "0.1", "--json", env=env))
    approval = asyncio.ensure_future(decide_when_asked(tent, "yes"))
    await asyncio.wait([login, approval], timeout=60, return_when=asyncio.FIRST_EXCEPTION)
    await approval
    code, out, err = await login
    assert code == 0, err
    assert json.loads(out)["status"] == "logged_in" and "Approve this app at" in err
    assert stat.S_IMODE((tmp_path / "cfg" / "status.json").stat().st_mode) == 0o600

    code, out, err = await _subprocess("post", "from a subprocess", "--json", env=env)
    assert code == 0, err
    post_id = json.loads(out)["post"]["id"]
    code, out, err = await _subprocess("timeline", env=env)
    assert code == 0 and "    from a subprocess" in out and post_id in out, err
    code, out, err = await _subprocess("post", "x" * 257, env=env)
    assert code == 1 and err.startswith("error: the status is 257 characters long") and "Traceback" not in err
