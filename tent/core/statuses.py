"""Statuses, replies, reposts and follows as post bodies (§9.3, §7.7): the rules both the
owner's web pages and the `tent status` client follow, so they are written once."""

from __future__ import annotations

import unicodedata
from typing import Any

from tent.core.type_uris import REPLY_TYPE, REPOST_BASE, STATUS_BASE, STATUS_TYPE, SUBSCRIPTION_BASE
from tent.core.types import base_version

MAX_STATUS_LENGTH = 256
FOLLOWED_TYPES = (STATUS_BASE, REPOST_BASE)


class StatusError(ValueError):
    """A status that must not be sent; the message is for the person who wrote it."""


def normalise_status(text: str) -> str:
    """NFC first, then count code points: the 256 limit is on what is stored (§9.3), and
    "e" + combining accent must count as the one character the reader sees."""
    text = unicodedata.normalize("NFC", text)
    if not text.strip():
        raise StatusError("a status needs some text")
    if len(text) > MAX_STATUS_LENGTH:
        raise StatusError(
            f"the status is {len(text)} characters long (after Unicode NFC normalisation); "
            f"at most {MAX_STATUS_LENGTH} are allowed"
        )
    return text


def status_body(
    text: str, *, reply_to: dict[str, Any] | None = None, mentions: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """A status; a reply (`reply_to` = {entity, post, type?}) mentions and refs the replied post."""
    post: dict[str, Any] = {"type": STATUS_TYPE, "content": {"text": normalise_status(text)}}
    post_mentions: list[dict[str, Any]] = []
    if reply_to is not None:
        target = {k: reply_to[k] for k in ("entity", "post", "type") if reply_to.get(k)}
        post["type"] = REPLY_TYPE
        post_mentions.append(dict(target))
        post["refs"] = [dict(target)]
    for entity in mentions:
        if not any(m.get("entity") == entity and "post" not in m for m in post_mentions):
            post_mentions.append({"entity": entity})
    if post_mentions:
        post["mentions"] = post_mentions
    return post


def repost_body(original: dict[str, Any]) -> dict[str, Any]:
    """Type `repost/v0#<original type>`, one ref and a mention of the original."""
    return {
        "type": f"{REPOST_BASE}#{original['type']}",
        "refs": [{"entity": original["entity"], "post": original["id"], "type": original["type"]}],
        "mentions": [{"entity": original["entity"], "post": original["id"]}],
    }


def subscription_body(entity: str, base: str) -> dict[str, Any]:
    """Following `entity`'s posts of one type: mentions it and is shared only with it."""
    return {
        "type": f"{SUBSCRIPTION_BASE}#{base}",
        "content": {"type": base},
        "mentions": [{"entity": entity}],
        "permissions": {"public": False, "entities": [entity]},
    }


def followed_base(sub: dict[str, Any]) -> str | None:
    """The base type a subscription post covers (`all` covers everything)."""
    content = sub.get("content") if isinstance(sub.get("content"), dict) else {}
    selector = content.get("type") or str(sub.get("type", "")).partition("#")[2]
    return "all" if selector == "all" else base_version(selector)


def followed_entity(sub: dict[str, Any]) -> str | None:
    """The entity a subscription follows: its first mention."""
    mentions = sub.get("mentions") or []
    first = mentions[0] if mentions and isinstance(mentions[0], dict) else {}
    value = first.get("entity")
    return value if isinstance(value, str) else None


def is_follow(sub: dict[str, Any]) -> bool:
    """A subscription a person made to read someone (not a server's own meta subscription)."""
    return followed_base(sub) in (*FOLLOWED_TYPES, "all")
