"""Building the stored form of a post: every member the server sets (docs/protocol.md §3.1, §3.3).

Pure functions of the validated body, the clock and the caller, so the rules about ids and
timestamps are tested without a database.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, cast

from tent.canonical import strip_hash_prefix, version_id
from tent.core.errors import TentError
from tent.core.model import Post
from tent.core.type_uris import DELETE_TYPE, META_TYPE

# Members an app may send on create / new version; everything else is the server's.
_APP_MEMBERS = ("type", "content", "mentions", "refs", "licenses", "attachments", "permissions")


def new_id() -> str:
    """16 random bytes, URL-safe base64 without padding: also valid as a Hawk key id."""
    return secrets.token_urlsafe(16)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def normalize_permissions(perms: dict[str, Any] | None) -> dict[str, Any] | None:
    """None for public posts; otherwise `public: false` plus whom it is shared with."""
    if perms is None or perms.get("public") is True:
        return None
    out: dict[str, Any] = {"public": False}
    if perms.get("entities"):
        out["entities"] = list(dict.fromkeys(perms["entities"]))
    if perms.get("groups"):
        out["groups"] = perms["groups"]
    return out


def restrict_permissions(body: dict[str, Any], may_share: bool) -> dict[str, Any]:
    """Without the `permissions` scope an app may publish publicly or privately, but not
    choose whom to share with: named entities and groups are dropped and the post stays
    private to the owner (fail closed, never wider than asked)."""
    perms = body.get("permissions")
    if may_share or not isinstance(perms, dict) or perms.get("public") is True:
        return body
    if not perms.get("entities") and not perms.get("groups"):
        return body
    return {**body, "permissions": {"public": False}}


def _fill_entity(items: list[dict[str, Any]] | None, entity: str) -> list[dict[str, Any]] | None:
    if not items:
        return None
    return [dict(item, entity=item.get("entity") or entity) for item in items]


def _finish(post: dict[str, Any], supplied_version_id: str | None) -> Post:
    """Drop empty members, compute the version id, and check one the client sent."""
    for key in ("mentions", "refs", "licenses", "attachments", "permissions", "app"):
        if post.get(key) in (None, [], {}):
            post.pop(key, None)
    computed = version_id(post)
    if supplied_version_id is not None and strip_hash_prefix(supplied_version_id) != computed:
        raise TentError(f"Invalid version id. Got({supplied_version_id}), Expected({computed})")
    post["version"]["id"] = computed
    return cast(Post, post)


def _body_members(body: dict[str, Any], entity: str) -> dict[str, Any]:
    post = {k: body[k] for k in _APP_MEMBERS if k in body}
    post["mentions"] = _fill_entity(body.get("mentions"), entity)
    post["refs"] = _fill_entity(body.get("refs"), entity)
    post["permissions"] = normalize_permissions(body.get("permissions"))
    return post


def _version(body: dict[str, Any], *, published_at: int, received_at: int) -> dict[str, Any]:
    sent = body.get("version") or {}
    version: dict[str, Any] = {"published_at": sent.get("published_at", published_at)}
    if sent.get("parents"):
        version["parents"] = sent["parents"]
    if sent.get("message"):
        version["message"] = sent["message"]
    version["received_at"] = received_at
    return version


def build_new_post(
    body: dict[str, Any],
    *,
    entity: str,
    now: int,
    app: dict[str, Any] | None = None,
    post_id: str | None = None,
) -> Post:
    """First version of a post created on this server (new_post)."""
    post = _body_members(body, entity)
    post["id"] = post_id or new_id()
    post["entity"] = entity
    post["published_at"] = body.get("published_at", now)
    post["received_at"] = now
    post["version"] = _version(body, published_at=post["published_at"], received_at=now)
    if app:
        post["app"] = dict(app)
    if post["type"] == META_TYPE:
        post["permissions"] = None  # the meta post is always public
    return _finish(post, (body.get("version") or {}).get("id"))


def build_new_version(
    body: dict[str, Any],
    latest: dict[str, Any],
    *,
    now: int,
    app: dict[str, Any] | None = None,
) -> Post:
    """A later version: post-level times stay those of the post (D-09), parents required."""
    parents = (body.get("version") or {}).get("parents")
    if not parents:
        raise TentError("Parent version not specified")
    for i, parent in enumerate(parents):
        if not isinstance(parent, dict) or not parent.get("version"):
            raise TentError(f"/version/parents/{i}/version is required")
    entity = latest["entity"]
    post = _body_members(body, entity)
    post["id"] = latest["id"]
    post["entity"] = entity
    post["published_at"] = latest["published_at"]
    post["received_at"] = latest.get("received_at", now)
    post["version"] = _version(body, published_at=now, received_at=now)
    if app:
        post["app"] = dict(app)
    if post["type"] == META_TYPE:
        post["permissions"] = None
    return _finish(post, (body.get("version") or {}).get("id"))


def build_import(body: dict[str, Any], *, now: int, verify: bool = True) -> Post:
    """A complete post stored as given (rel=import): only missing server members are filled."""
    for member in ("id", "entity"):
        if not body.get(member):
            raise TentError(f"Import requires {member}")
    entity = body["entity"]
    post = _body_members(body, entity)
    post["id"] = body["id"]
    post["entity"] = entity
    if body.get("original_entity"):
        post["original_entity"] = body["original_entity"]
    post["published_at"] = body.get("published_at", now)
    post["received_at"] = body.get("received_at", now)
    sent = body.get("version") or {}
    post["version"] = _version(
        body, published_at=post["published_at"], received_at=sent.get("received_at", now)
    )
    if body.get("app"):
        post["app"] = body["app"]
    if not verify and sent.get("id"):
        for key in ("mentions", "refs", "licenses", "attachments", "permissions", "app"):
            if post.get(key) in (None, [], {}):
                post.pop(key, None)
        post["version"]["id"] = strip_hash_prefix(sent["id"])
        return cast(Post, post)
    return _finish(post, sent.get("id"))


def build_received(body: dict[str, Any], *, now: int) -> Post:
    """A copy of another server's post delivered to us: stored as sent, with our own
    receive times; the sender's version id is kept (D-42: verification only logs)."""
    post = build_import({k: v for k, v in body.items() if k != "received_at"}, now=now, verify=False)
    post["received_at"] = now
    post["version"]["received_at"] = now
    return post


def build_delete_post(
    deleted: dict[str, Any], *, version: str | None, now: int, app: dict[str, Any] | None = None
) -> Post:
    """The record of a deletion: refs the post (or version), copies its mentions and
    its permissions, so the same readers learn of the deletion (D-24)."""
    ref: dict[str, Any] = {"entity": deleted["entity"], "post": deleted["id"]}
    if version:
        ref["version"] = version
    body: dict[str, Any] = {
        "type": DELETE_TYPE,
        "refs": [ref],
        "mentions": deleted.get("mentions") or [],
    }
    if deleted.get("permissions"):
        body["permissions"] = deleted["permissions"]
    return build_new_post(body, entity=deleted["entity"], now=now, app=app)
