"""What an app may do, in the owner's words: "read and write your statuses", with the raw
type URI kept beside it as a detail. Pure functions of the grant's types and scopes."""

from __future__ import annotations

from typing import Any, TypedDict

from tent.core.type_uris import TENT_TYPES

_NOUNS = {
    "status": "statuses",
    "repost": "reposts",
    "photo": "photos",
    "essay": "essays",
    "album": "albums",
    "favorite": "favorites",
    "subscription": "subscriptions (whom you follow)",
    "delete": "deletions",
    "meta": "profile",
    "app": "registered apps",
    "app-auth": "app authorizations",
    "credentials": "credentials (keys)",
    "relationship": "relationships with other servers",
    "group": "groups",
    "group-member": "group members",
    "cursor": "read positions",
    "tag": "tags",
    "delivery-failure": "delivery failure reports",
}
_FRAGMENTS = {"reply": "replies"}
_SCOPES = {
    "permissions": "choose who may see the posts it writes",
    "import": "import posts exactly as given, with their original ids and times",
}


class Permission(TypedDict):
    words: str
    uri: str


def type_label(uri: Any) -> str:
    """`https://tent.io/types/status/v0#reply` -> "statuses (replies only)"."""
    text = str(uri)
    if text == "all":
        return "posts of every type"
    base, _, fragment = text.partition("#")
    if base.startswith(TENT_TYPES):
        name = base[len(TENT_TYPES) :].split("/", 1)[0]
        noun = _NOUNS.get(name, f"“{name}” posts")
    else:
        parts = [p for p in base.rstrip("/").split("/") if p]
        name = parts[-2] if len(parts) >= 2 and parts[-1].startswith("v") else (parts[-1] if parts else text)
        noun = f"“{name}” posts"
    if fragment:
        noun += f" ({_FRAGMENTS.get(fragment, fragment)} only)"
    return noun


def describe_types(types: Any) -> list[Permission]:
    """One line per type: written types read "read and write your …", the rest "read your …"."""
    types = types if isinstance(types, dict) else {}
    write = [str(t) for t in types.get("write") or []]
    read = [str(t) for t in types.get("read") or [] if str(t) not in write]
    out: list[Permission] = [{"words": f"read and write your {type_label(t)}", "uri": t} for t in write]
    out += [{"words": f"read your {type_label(t)}", "uri": t} for t in read]
    return out


def describe_scope(scope: Any) -> str:
    return _SCOPES.get(str(scope), str(scope))
