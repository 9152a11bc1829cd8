"""How a stored post looks to a given requester (docs/protocol.md §2.13, D-13)."""

from __future__ import annotations

from typing import Any

from tent.core.principal import Principal, is_public


def _strip_redundant(item: dict[str, Any], post_id: str | None, entity: str) -> dict[str, Any]:
    out = dict(item)
    if post_id is not None and out.get("post") == post_id:
        del out["post"]
    if out.get("entity") == entity:
        del out["entity"]
    return out


def render_parents(parents: list[dict[str, Any]], post_id: str, entity: str) -> list[dict[str, Any]]:
    return [_strip_redundant(p, post_id, entity) for p in parents]


def render_post(post: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """Copy of the stored post with what this requester may not see removed."""
    out = dict(post)
    entity = post["entity"]
    app_level = principal.app_level
    version = dict(post.get("version") or {})
    if not app_level:
        out.pop("received_at", None)
        version.pop("received_at", None)
        if isinstance(out.get("app"), dict):
            app = {k: v for k, v in out["app"].items() if k != "id"}
            if app:
                out["app"] = app
            else:
                del out["app"]
    if version.get("parents"):
        version["parents"] = render_parents(version["parents"], post["id"], entity)
    out["version"] = version

    if is_public(post):
        out.pop("permissions", None)
    elif not app_level:
        out["permissions"] = {"public": False}

    if "mentions" in out:
        show_private = app_level and principal.can_read_type(post["type"])
        mentions = [
            _strip_redundant(m, None, entity)
            for m in out["mentions"]
            if show_private or m.get("public") is not False
        ]
        if mentions:
            out["mentions"] = mentions
        else:
            del out["mentions"]
    if "refs" in out:
        out["refs"] = [_strip_redundant(r, None, entity) for r in out["refs"]]
    return out


def render_version_item(post: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """An item of the versions/children lists: the version object plus the version's type."""
    version = post.get("version") or {}
    item: dict[str, Any] = {"id": version["id"], "type": post["type"]}
    if version.get("parents"):
        item["parents"] = render_parents(version["parents"], post["id"], post["entity"])
    if version.get("message"):
        item["message"] = version["message"]
    item["published_at"] = version["published_at"]
    if principal.app_level and "received_at" in version:
        item["received_at"] = version["received_at"]
    return item


def render_mention_item(post: dict[str, Any], listed_entity: str, public: bool) -> dict[str, Any]:
    """An item of the mentions list: which post mentions the listed one."""
    item: dict[str, Any] = {"post": post["id"], "type": post["type"]}
    if post["entity"] != listed_entity:
        item["entity"] = post["entity"]
    if not public:
        item["public"] = False
    return item
