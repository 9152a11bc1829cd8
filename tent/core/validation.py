"""Validation of post bodies sent by apps and peers (create, new version, import, notification).

Only what the protocol says a post *must* be, or what could not be stored or served, is
refused; everything else is accepted as given (the leniencies are listed in
docs/validation.md). Each rule below names its source: a section of docs/protocol.md, a
decision of docs/decisions.md, or seed 003 (the v0.3 post types document, "Docs").

The checks run in tentd's order, because clients and the conformance suite depend on *which*
error a bad request gets: body shape, `type`, then (after the caller decided authorization on
that type) `content` shape, floats (D-01), the post envelope (§2.1), the content schema of
known types (§9), and finally the per-type "must" rules that need only the body.

Schema failures become one `InvalidAttributes` whose `diff` tells the client how to repair the
body, in the JSON-Patch-like format of tentd's api-validator (§10.1). Schemas are small
declarative trees of `Field`s walked by one recursive checker, so adding a type is data only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tent.core.errors import InvalidAttributes, TentError
from tent.core.input_safety import MAX_TIMESTAMP, is_url
from tent.core.type_uris import TENT_TYPES
from tent.core.types import PostType, parse_type

__all__ = ["check_post", "identify_post", "validate_post"]


Diff = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Field:
    """What one JSON value must look like; `members=None` on an object means "any members"."""

    kind: str  # JSON schema type: string, integer, boolean, object, array
    required: bool = False
    uri: bool = False
    max_len: int | None = None
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    members: dict[str, Field] | None = None
    items: Field | None = None
    min_items: int = 0


def _str(
    required: bool = False,
    *,
    uri: bool = False,
    max_len: int | None = None,
    enum: tuple[str, ...] | None = None,
) -> Field:
    return Field("string", required, uri=uri, max_len=max_len, enum=enum)


def _int(required: bool = False, *, minimum: int | None = None, maximum: int | None = None) -> Field:
    return Field("integer", required, minimum=minimum, maximum=maximum)


def _bool(required: bool = False) -> Field:
    return Field("boolean", required)


def _obj(members: dict[str, Field] | None, required: bool = False) -> Field:
    return Field("object", required, members=members)


def _arr(items: Field, required: bool = False, *, min_items: int = 0) -> Field:
    return Field("array", required, items=items, min_items=min_items)


# --- the post envelope (§2.1) -------------------------------------------------------------
# Kept whole: the envelope is the protocol's own object. Its members feed indexed columns, the
# canonical JSON and the version id (§2.14), so a member of the wrong type cannot be stored or
# served; unknown members are forbidden by the post schema (§2.1) and would sit outside the
# version id. Identifying members are required where present: a parent is its `version`
# (§2.6), a ref its `post` (§2.10), a licence its `url` (§2.11), a group its `post` (D-11).

# Timestamps are ms since the epoch (§0.2) and never negative: `since=0` must reach the
# oldest post (§3.6), so a negative one could not be served by the feed's pages; nor later
# than year 9999, which no client library can format (D-68).
_TIMESTAMP = _int(minimum=0, maximum=MAX_TIMESTAMP)
# Entity URLs must be absolute (§1.1): the server discovers, delivers to and compares them.
_URI = _str(uri=True)

ENVELOPE = _obj(
    {
        "id": _str(),
        "entity": _URI,
        "original_entity": _URI,
        "type": _str(),
        "content": _obj(None),
        "published_at": _TIMESTAMP,
        "received_at": _TIMESTAMP,
        "version": _obj(
            {
                "id": _str(),
                "published_at": _TIMESTAMP,
                "received_at": _TIMESTAMP,
                "parents": _arr(
                    _obj(
                        {
                            "version": _str(True),
                            "post": _str(),
                            "entity": _URI,
                            "original_entity": _URI,
                        }
                    )
                ),
                "message": _str(),
            }
        ),
        "mentions": _arr(
            _obj(
                {
                    "entity": _URI,
                    "original_entity": _URI,
                    "post": _str(),
                    "version": _str(),
                    "type": _str(),
                    "public": _bool(),
                }
            )
        ),
        "refs": _arr(
            _obj(
                {
                    "entity": _URI,
                    "original_entity": _URI,
                    "post": _str(True),
                    "version": _str(),
                    "type": _str(),
                }
            )
        ),
        "licenses": _arr(_obj({"url": _str(True)})),  # any string: only shown, never fetched
        "attachments": _arr(
            _obj(
                {
                    "category": _str(),
                    "content_type": _str(),
                    "name": _str(),
                    "digest": _str(),
                    "size": _int(minimum=0),
                }
            )
        ),
        "app": _obj({"id": _str(), "name": _str(), "url": _str()}),  # set by the server (§2.11)
        "permissions": _obj(
            {
                "public": _bool(),
                "entities": _arr(_URI),
                "groups": _arr(_obj({"post": _str(True)})),
            }
        ),
    }
)

# Envelope members that are objects, or arrays of objects, whose null members tentd drops.
_NULL_DROPPED_OBJECTS = ("version", "app", "permissions")
_NULL_DROPPED_ARRAYS = ("mentions", "refs", "licenses", "attachments")

# --- content schemas of the types tent.io defines (§9), keyed by base name ---------------------
# Content is checked for the members a type's schema marks Required (Docs: "Required") and for
# the JSON types of the members it defines; members it does not define are accepted and kept
# (nothing in the protocol forbids them, and content is hashed whole, §2.14). Formats and
# enumerations are checked only where the server acts on the value.

_SELECTORS = _arr(_str())
_LOCATION = _obj({"latitude": _str(True), "longitude": _str(True), "altitude": _str()})
_RANGE = _obj({"min": _str(), "max": _str()})
_SIZE = _obj({"width": _int(True), "height": _int(True)})
_META_URLS = (
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
)

CONTENT_SCHEMAS: dict[str, dict[str, Field]] = {
    # §1.4: discovery compares `entity` and needs at least one server with every endpoint
    # (§1.3 step 4). The profile is shown as given: the Docs set no length or format on it.
    "meta": {
        "entity": _str(True, uri=True),
        "previous_entities": _arr(_URI),
        "profile": _obj(
            {"name": _str(), "bio": _str(), "website": _str(), "location": _str(), "avatar_digest": _str()}
        ),
        "servers": _arr(
            _obj(
                {
                    "version": _str(True),
                    "preference": _int(True),
                    "urls": _obj({key: _str(True) for key in _META_URLS}),
                }
            ),
            True,
            min_items=1,
        ),
        # The entity's signing keys by life (seed 001's manifest proofs are checked with them).
        "keys": _arr(
            _obj({"life": _int(True, minimum=1), "algorithm": _str(True), "public_key": _str(True)})
        ),
    },
    # §4.1: the key authenticates requests, and Tent's Hawk is sha256 only.
    "credentials": {
        "hawk_key": _str(True),
        "hawk_algorithm": _str(True, enum=("sha256",)),
    },
    "relationship": {},  # §9.2: no content defined
    "subscription": {"type": _str(True)},  # §7.7: the selector the server dispatches on
    # Docs: status "must be set to permanent or temporary"; `reason` is only ever written by
    # servers and is stored as given.
    "delivery-failure": {
        "entity": _str(True, uri=True),
        "status": _str(True, enum=("permanent", "temporary")),
        "reason": _str(),
    },
    # §6.1: OAuth redirects to `redirect_uri`, webhooks go to `notification_url`.
    "app": {
        "name": _str(True),
        "description": _str(),
        "url": _str(True, uri=True),
        "redirect_uri": _str(True, uri=True),
        "notification_url": _URI,
        "notification_types": _SELECTORS,
        "types": _obj({"read": _SELECTORS, "write": _SELECTORS}),
        "scopes": _arr(_str()),
    },
    # §5.2: the grant the server authorizes with.
    "app-auth": {
        "types": _obj({"read": _arr(_str(), True), "write": _arr(_str(), True)}, True),
        "scopes": _arr(_str(), True),
    },
    "group": {"name": _str(True), "description": _str()},
    "group-member": {"entity": _str(True, uri=True)},  # D-11: membership compares entity URLs
    # Docs: "The maximum length of the text is 256 Unicode characters" (D-50).
    "status": {"text": _str(True, max_len=256), "location": _LOCATION},
    "photo": {
        "caption": _str(),
        "filename": _str(),
        "location": _LOCATION,
        "artist": _obj({"name": _str(), "entity": _str()}),  # only shown
        "film_speed": _str(),
        "focal_length": _str(),
        "aperture": _str(),
        "exposure": _obj({"bias": _str(), "mode": _str(), "time": _str(), "program": _str()}),
        "flash": _obj({"fired": _bool(), "mode": _str()}),
        "white_balance": _bool(),
        "metering_mode": _str(),
        "camera": _obj({"make": _str(), "model": _str()}),
        "lens": _obj({"make": _str(), "model": _str(), "focal_length": _RANGE, "aperture": _RANGE}),
        "resolution": _SIZE,
        "dimensions": _SIZE,
        "timestamp": _int(minimum=0, maximum=MAX_TIMESTAMP),
        "orientation": _str(),
    },
    "album": {
        "title": _str(True),
        "description": _str(),
        "cover": _obj({"post": _str(True), "entity": _str(), "version": _str()}),
    },
    "essay": {"body": _str(True), "title": _str(), "excerpt": _str()},
    "tag": {"name": _str(True), "description": _str()},
    "favorite": {"note": _str()},
    # photo's "one of" lists are not enforced (D-50); repost, cursor and delete define no
    # content: any object is accepted.
}

# --- the checker ------------------------------------------------------------------------------

_NEUTRAL: dict[str, Any] = {"string": "", "integer": 0, "boolean": False}


def _neutral(kind: str) -> Any:
    """A fresh placeholder of the right type for the diff's `value` (never a shared mutable)."""
    if kind == "object":
        return {}
    if kind == "array":
        return []
    return _NEUTRAL[kind]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass in Python
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "unknown"


def _pointer(path: str, key: str | int) -> str:
    """Append one RFC 6901 reference token, escaped so member names with `/` or `~` stay exact."""
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _is_uri(value: str) -> bool:
    """tentd's `format: uri`: a scheme and a host, nothing more (relative references fail)."""
    return is_url(value)


def _check(value: Any, field: Field, path: str, diff: Diff, open_members: bool = False) -> None:
    """Append to `diff` what keeps `value` from being `field`. With `open_members`, members
    an object's schema does not define are accepted (content); otherwise they are refused."""
    kind = _json_type(value)
    if kind != field.kind:
        diff.append(
            {
                "op": "replace",
                "path": path,
                "value": _neutral(field.kind),
                "current_value": value,
                "type": field.kind,
                "message": f"expected type {field.kind}, got {kind}",
            }
        )
        return
    if kind == "string":
        _check_string(value, field, path, diff)
    elif kind == "integer" and field.minimum is not None and value < field.minimum:
        diff.append(
            {
                "op": "replace",
                "path": path,
                "value": field.minimum,
                "current_value": value,
                "type": "integer",
                "minimum": field.minimum,
                "message": f"expected integer >= {field.minimum}, got {value}",
            }
        )
    elif kind == "integer" and field.maximum is not None and value > field.maximum:
        diff.append(
            {
                "op": "replace",
                "path": path,
                "value": field.maximum,
                "current_value": value,
                "type": "integer",
                "maximum": field.maximum,
                "message": f"expected integer <= {field.maximum}, got {value}",
            }
        )
    elif kind == "object" and field.members is not None:
        for name, member in field.members.items():
            if member.required and name not in value:
                diff.append(
                    {
                        "op": "add",
                        "path": _pointer(path, name),
                        "value": _neutral(member.kind),
                        "type": member.kind,
                        "message": f"expected type {member.kind}, got null",
                    }
                )
        for name, member_value in value.items():
            member = field.members.get(name)
            if member is not None:
                _check(member_value, member, _pointer(path, name), diff, open_members)
            elif not open_members:
                diff.append({"op": "remove", "path": _pointer(path, name)})
    elif kind == "array" and field.items is not None:
        if len(value) < field.min_items:
            diff.append(
                {
                    "op": "add",
                    "path": _pointer(path, len(value)),
                    "value": _neutral(field.items.kind),
                    "type": field.items.kind,
                    "message": f"expected at least {field.min_items} items, got {len(value)}",
                }
            )
        for index, item in enumerate(value):
            _check(item, field.items, _pointer(path, index), diff, open_members)


def _check_string(value: str, field: Field, path: str, diff: Diff) -> None:
    if field.uri and not _is_uri(value):
        diff.append(
            {
                "op": "replace",
                "path": path,
                "value": "https://example.com",
                "current_value": value,
                "type": "string",
                "format": "uri",
                "message": "expected uri format",
            }
        )
    if field.max_len is not None and len(value) > field.max_len:  # code points (D-50)
        diff.append(
            {
                "op": "replace",
                "path": path,
                "value": value[: field.max_len],
                "current_value": value,
                "type": "string",
                "maxLength": field.max_len,
                "message": f"expected at most {field.max_len} characters, got {len(value)}",
            }
        )
    if field.enum is not None and value not in field.enum:
        diff.append(
            {
                "op": "replace",
                "path": path,
                "value": field.enum[0],
                "current_value": value,
                "type": "string",
                "enum": list(field.enum),
                "message": f"expected one of {', '.join(field.enum)}",
            }
        )


def _find_floats(value: Any, path: str, diff: Diff) -> None:
    """D-01: canonical JSON (and so the version id) cannot express floats, so refuse them."""
    if isinstance(value, float):
        diff.append(
            {
                "op": "replace",
                "path": path,
                "value": 0,
                "current_value": value,
                "type": "integer",
                "message": "floats are not allowed in posts",
            }
        )
    elif isinstance(value, dict):
        for key, item in value.items():
            _find_floats(item, _pointer(path, key), diff)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _find_floats(item, _pointer(path, index), diff)


# --- the pipeline -----------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _without_nulls(value: Any) -> Any:
    return {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value


def _json_copy(value: Any) -> Any:
    """A deep copy of parsed JSON (objects, arrays, scalars): a third of `copy.deepcopy`'s
    time, which keeps a memo for shared and cyclic objects that parsed JSON cannot have."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def _drop_nulls(body: dict[str, Any]) -> dict[str, Any]:
    """tentd drops null members of the envelope before validating; `content` is left alone.

    Works on a copy so the caller's body stays untouched and the result shares nothing
    with it.
    """
    post = _without_nulls(_json_copy(body))
    for name in _NULL_DROPPED_OBJECTS:
        if name in post:
            post[name] = _without_nulls(post[name])
    version = post.get("version")
    if isinstance(version, dict) and isinstance(version.get("parents"), list):
        version["parents"] = [_without_nulls(p) for p in version["parents"]]
    for name in _NULL_DROPPED_ARRAYS:
        if isinstance(post.get(name), list):
            post[name] = [_without_nulls(item) for item in post[name]]
    return post


def _raise_if(diff: Diff) -> None:
    if diff:
        raise InvalidAttributes(diff)


def identify_post(body: object) -> tuple[dict[str, Any], PostType]:
    """Just enough to decide authorization: an object with a parsable `type` (nulls dropped).

    Authorization is decided on this, before the content is validated, so an app that may not
    write a type gets 403 whatever the body holds (`check_post` runs after it).
    """
    if not isinstance(body, dict):
        raise TentError("Request body missing.")  # §3.1 step 3: nothing to store
    post = _drop_nulls(body)
    if "type" not in post:  # §2.1: `type` is required of apps; it decides everything else
        _check_content_shape(post)  # tentd reports a malformed content first (§3.1 step 2)
        raise TentError("Type not specified: " + _dumps(post))
    post_type = parse_type(post["type"])
    if post_type is None:  # §2.4: "must be a URI with scheme and host and match the pattern"
        raise TentError("Invalid type: " + _dumps(post["type"]))
    return post, post_type


def check_post(post: dict[str, Any], post_type: PostType) -> None:
    """Everything else the protocol requires of a post (see the module docstring)."""
    _check_content_shape(post)

    diff: Diff = []
    _find_floats(post, "", diff)
    _raise_if(diff)

    _check(post, ENVELOPE, "", diff)
    _raise_if(diff)

    known = _known_name(post_type)
    schema = CONTENT_SCHEMAS.get(known) if known else None
    if schema is not None:
        _check(post.get("content", {}), _obj(schema), "/content", diff, open_members=True)
        _raise_if(diff)

    if known:
        _check_type_rules(known, post)


def validate_post(body: object) -> tuple[dict[str, Any], PostType]:
    """Validate a post body as sent by an app (create, new version, import or notification)."""
    post, post_type = identify_post(body)
    check_post(post, post_type)
    return post, post_type


def _check_content_shape(post: dict[str, Any]) -> None:
    """§2.5: content is an object whose shape the type fixes; anything else cannot be one."""
    if "content" in post and not isinstance(post["content"], dict):
        raise TentError("Malformed content: " + _dumps(post))


def _known_name(post_type: PostType) -> str | None:
    """The schema name for types tent.io defines; other bases ("start using it") get none."""
    name = post_type.name
    return name if post_type.base == TENT_TYPES + name else None


def _check_type_rules(name: str, post: dict[str, Any]) -> None:
    """Rules on mentions and refs that the schemas cannot express: only the "must" ones."""
    mentions: list[dict[str, Any]] = post.get("mentions", [])
    refs: list[dict[str, Any]] = post.get("refs", [])
    content: dict[str, Any] = post.get("content", {})
    mentioned_posts = {m["post"] for m in mentions if "post" in m}

    if name == "repost":  # Docs: "must include a mention and a single ref of the original post"
        if len(refs) != 1:
            raise TentError("Repost must have exactly one ref")
        if refs[0]["post"] not in mentioned_posts:
            raise TentError("Repost must mention the reposted post")
    elif name == "subscription":  # §7.7: the first mention is the publisher subscribed to
        if not any("entity" in m for m in mentions):
            raise TentError("Subscription must mention an entity!")
    elif name == "app-auth":  # §6.10: the grant is for the app it mentions
        if not any("post" in m and _is_app_type(m.get("type")) for m in mentions):
            raise TentError("Post must mention an app")
    elif name == "cursor":  # Docs: "must have a single post ref"
        if len(refs) != 1:
            raise TentError("Cursor must have exactly one ref")
    elif name == "favorite":  # Docs: "must include a ref"
        if not refs:
            raise TentError("Favorite must have at least one ref")
    elif name == "album":  # Docs: the cover "post must also be included in the refs array"
        cover = content.get("cover")
        if cover is not None and cover["post"] not in {r["post"] for r in refs}:
            raise TentError("Album cover must be among the refs")
    # A status reply "should" mention and ref what it replies to (Docs): accepted without.


def _is_app_type(value: object) -> bool:
    mentioned = parse_type(value)
    return mentioned is not None and mentioned.base == TENT_TYPES + "app"
