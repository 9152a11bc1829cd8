"""Canonical post JSON and version ids (docs/protocol.md §2.14).

The version id is the hex of the first 256 bits of SHA-512 over a reduced, whitespace-free,
key-sorted rendering of the post. Every server must produce the same bytes, so the rules are
applied per element exactly as written (not tentd's library quirks, decision D-17) and
strings use standard JSON escapes with raw UTF-8 (D-16).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

_EMPTY: tuple[Any, ...] = (None, "", [], {})
_TOP_LEVEL_DROPPED_WHEN_EMPTY = ("app", "attachments", "mentions", "refs", "content", "licenses")


def _is_empty(value: Any) -> bool:
    return any(value is e or (type(value) is type(e) and value == e) for e in _EMPTY)


def _fold_original_entity(obj: Any) -> None:
    """The hash is about the entity that first published, so it replaces `entity`."""
    if isinstance(obj, dict) and "original_entity" in obj:
        obj["entity"] = obj.pop("original_entity")


def _copy_items(value: Any) -> Any:
    """A list of objects copied one level deep: reduction edits the objects, not their values."""
    if isinstance(value, list):
        return [dict(item) if isinstance(item, dict) else item for item in value]
    return value


def reduce_post(post: dict[str, Any]) -> dict[str, Any]:
    """Step 1 of §2.14: the copy of the post that gets hashed (the input is not changed;
    only the members reduction edits are copied, `content` is shared)."""
    p = dict(post)
    p.pop("permissions", None)
    p.pop("received_at", None)
    version = dict(p["version"]) if isinstance(p.get("version"), dict) else None
    if version is not None:
        p["version"] = version
        version.pop("id", None)
        version.pop("received_at", None)
        if "parents" in version:
            version["parents"] = _copy_items(version["parents"])
    app = dict(p["app"]) if isinstance(p.get("app"), dict) else None
    if app is not None:
        p["app"] = app
        app.pop("id", None)
    for key in ("mentions", "refs"):
        if key in p:
            p[key] = _copy_items(p[key])

    parents = version.get("parents") if version is not None else None
    items: list[Any] = []
    for group in (parents, p.get("mentions"), p.get("refs")):
        if isinstance(group, list):
            items.extend(group)
    _fold_original_entity(p)
    for item in items:
        _fold_original_entity(item)

    if isinstance(p.get("mentions"), list):
        p["mentions"] = [m for m in p["mentions"] if not (isinstance(m, dict) and m.get("public") is False)]

    if app is not None:
        for key in ("name", "url"):
            if key in app and _is_empty(app[key]):
                del app[key]
    for key in _TOP_LEVEL_DROPPED_WHEN_EMPTY:
        if key in p and _is_empty(p[key]):
            del p[key]
    if version is not None:
        for key in ("parents", "message"):
            if key in version and _is_empty(version[key]):
                del version[key]
        if not version:
            del p["version"]

    remaining: list[Any] = []
    for group in (
        (p.get("version") or {}).get("parents") if isinstance(p.get("version"), dict) else None,
        p.get("mentions"),
        p.get("refs"),
    ):
        if isinstance(group, list):
            remaining.extend(group)
    for item in remaining:
        if not isinstance(item, dict):
            continue
        if "post" in item and item["post"] == p.get("id"):
            del item["post"]
        if "entity" in item and item["entity"] == p.get("entity"):
            del item["entity"]
    return p


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value)):
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, float):
        raise ValueError("floats are not allowed in posts")
    else:
        out.append(json.dumps(value, ensure_ascii=False))


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def canonical_json(post: dict[str, Any]) -> bytes:
    """Steps 1 and 2 of §2.14: the exact bytes that are hashed.

    orjson with sorted keys writes exactly this form (no whitespace, keys in code point
    order, raw UTF-8, standard escapes); `_encode` states the rule and is the fallback
    for integers beyond 64 bits, which orjson refuses.
    """
    reduced = reduce_post(post)
    if _has_float(reduced):
        raise ValueError("floats are not allowed in posts")
    try:
        return orjson.dumps(reduced, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        out: list[str] = []
        _encode(reduced, out)
        return "".join(out).encode("utf-8")


def version_id(post: dict[str, Any]) -> str:
    return hashlib.sha512(canonical_json(post)).hexdigest()[:64]


def digest(data: bytes) -> str:
    """Attachment digest: same truncated SHA-512 (SHA-512/256-style), bare hex (D-15)."""
    return hashlib.sha512(data).hexdigest()[:64]


def strip_hash_prefix(value: str) -> str:
    """tentd writes `sha512t256-<hex>`; accept it on input and compare bare hex (D-15)."""
    return value[len("sha512t256-") :] if value.startswith("sha512t256-") else value
