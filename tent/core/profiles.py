"""The `profiles` object of a feed or post response (§3.2, §3.6): which entities
a list of posts names, and what of each entity's meta post is shown."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def profile_entities(posts: Iterable[dict[str, Any]], kinds: Sequence[str]) -> list[str]:
    """Entities selected by the specifiers, in first-seen order: `entity` = each post's own,
    `mentions`/`refs`/`parents` = the entities named there (a missing entity is the post's);
    `permissions` is accepted and selects nothing, as in tentd."""
    found: dict[str, None] = {}
    for post in posts:
        own = post.get("entity")
        if not isinstance(own, str):
            continue
        named: list[Any] = []
        if "entity" in kinds:
            named.append(own)
        for kind, items in (
            ("mentions", post.get("mentions")),
            ("refs", post.get("refs")),
            ("parents", (post.get("version") or {}).get("parents")),
        ):
            if kind in kinds and isinstance(items, list):
                named.extend(item.get("entity") or own for item in items if isinstance(item, dict))
        for entity in named:
            if isinstance(entity, str) and entity:
                found.setdefault(entity, None)
    return list(found)


def profile_of(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The meta post's `profile`, plus `avatar_digest` (its first attachment) when it has
    one; None when the meta post has no profile (such entities are left out)."""
    profile = (meta.get("content") or {}).get("profile")
    if not isinstance(profile, dict):
        return None
    out = dict(profile)
    attachments = meta.get("attachments")
    if isinstance(attachments, list) and attachments and isinstance(attachments[0], dict):
        digest = attachments[0].get("digest")
        if isinstance(digest, str):
            out["avatar_digest"] = digest
    return out
