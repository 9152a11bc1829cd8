"""What `tent status` does once logged in, as plain async functions returning data.

The functions talk to the owner's own server only, signed with the saved token; reading
another entity's post goes through that server's ``post`` endpoint, which proxies when it can
(§8). Output formatting is the CLI's business (``tent.client.cli``), so these are usable and
testable as a library.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp

from tent.client import config as config_file
from tent.client.discovery import check_entity_url, discover
from tent.client.login import as_hawk, check_pending
from tent.client.session import (
    FEED_MEDIA_TYPE,
    POST_MEDIA_TYPE,
    ClientError,
    TentSession,
    dumps,
    expand,
    post_content_type,
    with_query,
)
from tent.core import statuses
from tent.core.type_uris import REPOST_BASE, STATUS_BASE, SUBSCRIPTION_BASE

REPOST_PREFIX = REPOST_BASE + "#"
FOLLOWED_TYPES = statuses.FOLLOWED_TYPES
MAX_PAGES = 100  # a runaway `next` chain must not loop forever


@dataclass
class Account:
    """A logged-in configuration and a session signed with its token."""

    path: Path
    config: dict[str, Any]
    session: TentSession

    @property
    def entity(self) -> str:
        return str(self.config["entity"])

    def save(self) -> None:
        config_file.save(self.path, self.config)


async def open_account(http: aiohttp.ClientSession, path: Path) -> Account:
    """The saved login; finishes a `--no-wait` login once the owner has approved it."""
    cfg = config_file.load(path)
    if cfg is None:
        raise ClientError(f"not logged in (no {path.name} yet): run `tent status login ENTITY` first")
    if isinstance(cfg.get("pending"), dict):
        try:
            cfg = await check_pending(http, path, cfg)
        except ClientError:
            if "token" not in cfg:
                raise  # nothing to fall back on; otherwise the working login goes on

    token = cfg.get("token")
    if not isinstance(token, dict) or not cfg.get("entity") or not cfg.get("servers"):
        raise ClientError("not logged in: run `tent status login ENTITY` first")
    try:
        creds = as_hawk(token)
    except KeyError:
        raise ClientError(f"{path} is damaged; run `tent status login ENTITY` again") from None
    return Account(path, cfg, TentSession(http, cfg["servers"], creds, cfg.get("app_id")))


# -- posts ------------------------------------------------------------------------------------


def normalise_status(text: str) -> str:
    """The status rules shared with the server's own pages (tent.core.statuses)."""
    try:
        return statuses.normalise_status(text)
    except statuses.StatusError as exc:
        raise ClientError(str(exc)) from None


def _template_regex(template: str) -> re.Pattern[str] | None:
    if "{entity}" not in template or "{post}" not in template:
        return None
    pattern = re.escape(template.split("?", 1)[0])
    pattern = pattern.replace(r"\{entity\}", r"(?P<entity>[^/?#]+)")
    pattern = pattern.replace(r"\{post\}", r"(?P<post>[^/?#]+)")
    return re.compile(pattern + r"(?:[?#].*)?$")


def parse_post_ref(text: str, own_entity: str, templates: Iterable[str] = ()) -> tuple[str, str]:
    """(entity, post id) from "ENTITY ID", a post URL, a ``tent+https://…?post=ID`` URI or a
    bare id of one's own post."""
    parts = text.split()
    if len(parts) == 2:
        return check_entity_url(parts[0]), parts[1]
    if len(parts) != 1:
        raise ClientError(f"{text!r} is not a post: give a post URL, or an entity and a post id")
    token = parts[0]
    if token.startswith(("tent+http://", "tent+https://")):
        uri = urlsplit(token[len("tent+"):])
        post = parse_qs(uri.query).get("post", [""])[0]
        if post:
            return check_entity_url(f"{uri.scheme}://{uri.netloc}{uri.path.rstrip('/')}"), post
        raise ClientError(f"{token!r} names no post")
    if "://" not in token:
        return own_entity, token
    for template in templates:
        regex = _template_regex(template)
        match = regex.match(token) if regex else None
        if match and "://" in unquote(match["entity"]):
            return unquote(match["entity"]), unquote(match["post"])
    path = urlsplit(token).path
    segments = path.split("/")
    if len(segments) >= 3 and "://" in unquote(segments[-2]) and segments[-1]:
        return unquote(segments[-2]), unquote(segments[-1])
    raw = re.search(r"(https?:/{1,2}[^?#]+)/([^/?#]+)/?$", path)  # unencoded entity inside the path
    if raw:
        entity = re.sub(r"^(https?:)/(?!/)", r"\1//", raw.group(1))
        return check_entity_url(entity), unquote(raw.group(2))
    raise ClientError(f"cannot tell the entity and post id from {token!r}; give \"ENTITY ID\" instead")


def _post_templates(account: Account) -> list[str]:
    return [s["urls"]["post"] for s in account.session.servers if isinstance(s["urls"].get("post"), str)]


async def create_post(account: Account, post: dict[str, Any], attach: Sequence[Path] = ()) -> dict[str, Any]:
    """new_post; with files, a multipart body (the post part first), signed with its hash."""
    if attach:
        body_bytes, content_type = multipart_post(post, attach)
    else:
        body_bytes, content_type = dumps(post), post_content_type(post["type"])
    reply = await account.session.call("POST", "new_post", body=body_bytes, content_type=content_type,
                                       accept=POST_MEDIA_TYPE)
    body = reply.json()
    if not isinstance(body, dict) or not isinstance(body.get("post"), dict):
        raise ClientError("the server did not return the new post")
    return body["post"]


def multipart_post(post: dict[str, Any], files: Sequence[Path]) -> tuple[bytes, str]:
    """The post part, then one `attachment[n]` part per file (each read whole: a status
    client sends photos, not archives)."""
    boundary = "tent-" + os.urandom(12).hex()
    out = bytearray()

    def part(headers: str, data: bytes) -> None:
        out.extend(f"--{boundary}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n")

    part(f'Content-Disposition: form-data; name="post"\r\nContent-Type: {post_content_type(post["type"])}',
         dumps(post))
    for n, path in enumerate(files):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from None
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        name = path.name.replace('"', "").replace("\r", "").replace("\n", "")
        part(f'Content-Disposition: form-data; name="attachment[{n}]"; filename="{name}"\r\n'
             f"Content-Type: {kind}", data)
    out.extend(f"--{boundary}--\r\n".encode())
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _no_post(exc: ClientError, entity: str, post_id: str) -> ClientError:
    """A 404 names what is missing, not the HTTP reason."""
    if exc.status == 404:
        return ClientError(f"no post {post_id} on {entity}")
    return exc


async def get_post(account: Account, entity: str, post_id: str) -> dict[str, Any]:
    """A post through our own server (it proxies other entities' posts when it can)."""
    try:
        reply = await account.session.call("GET", "post", variables={"entity": entity, "post": post_id},
                                           accept=POST_MEDIA_TYPE)
    except ClientError as exc:
        raise _no_post(exc, entity, post_id) from None
    body = reply.json()
    if not isinstance(body, dict) or not isinstance(body.get("post"), dict):
        raise ClientError(f"the server sent no post for {entity} {post_id}")
    return body["post"]


def post_url(account: Account, post: dict[str, Any]) -> str:
    """The post's URL on the entity's preferred server (from the meta post's template)."""
    templates = _post_templates(account)
    if not templates:
        return f"{post.get('entity')} {post.get('id')}"
    return expand(templates[0], entity=str(post["entity"]), post=str(post["id"]))


async def post_status(account: Account, text: str, *, reply_to: str | None = None,
                      mentions: Sequence[str] = (), private: bool = False,
                      attach: Sequence[Path] = ()) -> dict[str, Any]:
    """Publish a status; a reply mentions and refs the replied post (§9.3). Private: only the
    entities it mentions (and the owner's apps) may read it."""
    normalise_status(text)  # before any request: a too-long status costs nothing
    extra = [check_entity_url(m) for m in mentions]
    target: dict[str, Any] | None = None
    if reply_to is not None:
        entity, post_id = parse_post_ref(reply_to, account.entity, _post_templates(account))
        target = {"entity": entity, "post": post_id}
        try:
            replied = await get_post(account, entity, post_id)
            target["type"] = replied["type"]
        except ClientError:
            if entity == account.entity:
                raise  # our own server must know our own post
    for path in attach:
        if not path.is_file():
            raise ClientError(f"no file {path}")
    post = statuses.status_body(text, reply_to=target, mentions=extra)
    if private:
        mentioned = {m["entity"] for m in post.get("mentions") or [] if m.get("entity")}
        readers = sorted(mentioned - {account.entity})
        post["permissions"] = {"public": False, **({"entities": readers} if readers else {})}
    return await create_post(account, post, attach)


async def repost(account: Account, ref: str) -> dict[str, Any]:
    """Repost: type ``repost/v0#<original type>``, one ref and a mention of the original (§9.3)."""
    entity, post_id = parse_post_ref(ref, account.entity, _post_templates(account))
    try:
        original = await get_post(account, entity, post_id)
    except ClientError as exc:
        raise ClientError(f"cannot get the post to repost: {exc.message}", exc.status) from None
    return await create_post(account, statuses.repost_body(original))


async def delete_post(account: Account, ref: str) -> dict[str, Any] | None:
    """Delete one of our posts; returns the delete post the server published, if any."""
    entity, post_id = parse_post_ref(ref, account.entity, _post_templates(account))
    try:
        reply = await account.session.call("DELETE", "post", variables={"entity": entity, "post": post_id},
                                           accept=POST_MEDIA_TYPE)
    except ClientError as exc:
        raise _no_post(exc, entity, post_id) from None
    body = reply.json()
    return body.get("post") if isinstance(body, dict) else None


def whoami(account: Account) -> dict[str, Any]:
    return {"entity": account.entity, "app_id": account.config.get("app_id"),
            "server": account.session.endpoint("new_post").rsplit("/posts", 1)[0]}


async def deliveries(account: Account, ref: str) -> list[dict[str, Any]]:
    """Where one of our posts stands with each recipient, from the server's `deliveries`
    extension (advertised in server_info)."""
    entity, post_id = parse_post_ref(ref, account.entity, _post_templates(account))
    info = await account.session.signed_as(None).call("GET", "server_info", accept="application/json")
    url = (info.json() or {}).get("deliveries") if isinstance(info.json(), dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ClientError("this server does not report deliveries")
    try:
        reply = await account.session.fetch("GET", with_query(url, [("post", post_id)]),
                                            accept="application/json")
    except ClientError as exc:
        raise _no_post(exc, entity, post_id) from None
    rows = (reply.json() or {}).get("deliveries")
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


# -- timeline -----------------------------------------------------------------------------------


@dataclass
class Timeline:
    feed: dict[str, Any]
    reposted: dict[tuple[str, str], dict[str, Any] | None]

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [p for p in self.feed.get("posts") or [] if isinstance(p, dict)]

    @property
    def next_query(self) -> str | None:
        nxt = (self.feed.get("pages") or {}).get("next")
        return nxt if isinstance(nxt, str) and nxt else None

    @property
    def next_token(self) -> str | None:
        """The ``before`` position of the next page, spaces as ``+`` so a shell needs no quotes."""
        nxt = self.next_query
        values = parse_qs(nxt.lstrip("?")).get("before") if nxt else None
        return values[0].replace(" ", "+") if values else None


def repost_ref(post: dict[str, Any]) -> tuple[str, str] | None:
    if not str(post.get("type", "")).startswith(REPOST_PREFIX):
        return None
    refs = post.get("refs") or []
    if not refs or not isinstance(refs[0], dict) or not refs[0].get("post"):
        return None
    return str(refs[0].get("entity") or post.get("entity")), str(refs[0]["post"])


async def timeline(account: Account, *, limit: int | None = None, before: str | None = None,
                   page: str | None = None) -> Timeline:
    """Newest statuses and reposts from the owner and followed entities, one feed page.

    ``before`` is a position token printed by a previous call (or a whole ``?…`` next link);
    ``page="next"`` continues from the next link remembered in the config.
    """
    if page is not None and page != "next":
        raise ClientError("--page only knows `next`")
    raw_query: str | None = None
    query: list[tuple[str, str]] | None = None
    if page == "next":
        raw_query = account.config.get("timeline_next")
        if not raw_query:
            raise ClientError("there is no next page to show (run `tent status timeline` first)")
    elif before and before.startswith("?"):
        raw_query = before
    else:
        query = [("types", f"{STATUS_BASE},{REPOST_BASE}"), ("sort_by", "published_at")]
        if limit is not None:
            query.append(("limit", str(limit)))
        if before:
            query.append(("before", before.replace("+", " ")))
    reply = await account.session.call("GET", "posts_feed", query=query, raw_query=raw_query,
                                       accept=FEED_MEDIA_TYPE)
    feed = reply.json()
    if not isinstance(feed, dict):
        raise ClientError("the server's feed is not a JSON object")
    result = Timeline(feed, {})
    refs = {ref for ref in map(repost_ref, result.posts) if ref is not None}
    limiter = asyncio.Semaphore(8)

    async def fetch(ref: tuple[str, str]) -> None:
        async with limiter:
            try:
                result.reposted[ref] = await get_post(account, *ref)
            except ClientError:
                result.reposted[ref] = None

    await asyncio.gather(*(fetch(ref) for ref in refs))
    if account.config.get("timeline_next") != result.next_query:
        if result.next_query:
            account.config["timeline_next"] = result.next_query
        else:
            account.config.pop("timeline_next", None)
        account.save()
    return result


# -- following ----------------------------------------------------------------------------------


_followed_base = statuses.followed_base


async def subscriptions_to(account: Account, entity: str) -> list[dict[str, Any]]:
    """Our subscription posts whose first mention is ``entity`` (every page of the feed)."""
    found: list[dict[str, Any]] = []
    first: list[tuple[str, str]] = [("types", SUBSCRIPTION_BASE), ("mentions", entity), ("limit", "200")]
    query: list[tuple[str, str]] | None = first
    raw: str | None = None
    for _ in range(MAX_PAGES):
        feed = (await account.session.call("GET", "posts_feed", query=query, raw_query=raw,
                                           accept=FEED_MEDIA_TYPE)).json() or {}
        for post in feed.get("posts") or []:
            mentions = post.get("mentions") or []
            first = mentions[0].get("entity") if mentions and isinstance(mentions[0], dict) else None
            if post.get("entity") == account.entity and first == entity:
                found.append(post)
        raw = (feed.get("pages") or {}).get("next")
        if not raw:
            break
        query = None
    return found


async def follow(account: Account, entity: str, *, check: bool = True) -> dict[str, Any]:
    """Subscribe to ``entity``'s statuses and reposts; what exists already is left alone."""
    entity = check_entity_url(entity)
    if check:
        entity = (await discover(account.session.http, entity)).entity
    if entity == account.entity:
        raise ClientError("you cannot follow yourself")
    existing = await subscriptions_to(account, entity)
    covered = {_followed_base(p) for p in existing}
    created = []
    for base in FOLLOWED_TYPES:
        if base in covered or "all" in covered:
            continue
        created.append(await create_post(account, statuses.subscription_body(entity, base)))
    return {"entity": entity, "created": created,
            "existing": [p for p in existing if _followed_base(p) in (*FOLLOWED_TYPES, "all")]}


async def unfollow(account: Account, entity: str) -> dict[str, Any]:
    """Delete our status and repost subscriptions to ``entity``.

    Other subscriptions mentioning it (a server subscribes to its peers' meta posts to keep
    their server lists current, §7.2 step 13) are not ours to remove.
    """
    entity = check_entity_url(entity)
    deleted = []
    for post in await subscriptions_to(account, entity):
        if not statuses.is_follow(post):
            continue
        await account.session.call("DELETE", "post", variables={"entity": account.entity, "post": post["id"]},
                                   accept=POST_MEDIA_TYPE)
        deleted.append(post["id"])
    return {"entity": entity, "deleted": deleted}


__all__ = [
    "Account",
    "Timeline",
    "create_post",
    "delete_post",
    "follow",
    "get_post",
    "normalise_status",
    "open_account",
    "parse_post_ref",
    "post_status",
    "repost",
    "timeline",
    "unfollow",
]
