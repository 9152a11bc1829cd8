"""Who receives a post (§7.6, D-43, D-47) and which apps get a webhook (§6.9, D-40).

A remote entity receives a version iff it may read it (public, or named in
`permissions.entities`, or a member of a listed group) AND it is mentioned or subscribes to
the type; meta posts go to every relationship. One delivery per entity per version; never
to ourselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tent.core.principal import is_public
from tent.core.type_uris import DELETE_BASE, META_BASE
from tent.core.types import any_selector_matches


def readers(post: dict[str, Any], group_members: Mapping[str, Iterable[str]]) -> set[str] | None:
    """Entities allowed to read a private post (None: public, everyone)."""
    if is_public(post):
        return None
    perms = post.get("permissions") or {}
    allowed = set(perms.get("entities") or [])
    for group in perms.get("groups") or []:
        allowed.update(group_members.get(str(group.get("post")), ()))
    return allowed


def recipients(
    post: dict[str, Any],
    own_entity: str,
    subscribers: Mapping[str, Iterable[str]],
    group_members: Mapping[str, Iterable[str]],
    also: Iterable[str] = (),
) -> dict[str, bool]:
    """{entity: mentioned} for every remote entity that gets this version.

    `subscribers` maps entity -> its type selectors; `also` are entities that get it anyway
    (every relationship for a meta post, every earlier recipient for a delete).
    """
    allowed = readers(post, group_members)
    mentioned = {m.get("entity") or post["entity"] for m in post.get("mentions") or []}
    out: dict[str, bool] = {}
    candidates = set(mentioned)
    for entity, selectors in subscribers.items():
        if any_selector_matches(list(selectors), post["type"]):
            candidates.add(entity)
    candidates.update(also)  # meta posts: every relationship; deletes: prior recipients
    for entity in candidates:
        if entity == own_entity or not entity:
            continue
        if allowed is not None and entity not in allowed:
            continue
        out[entity] = entity in mentioned
    return out




def still_wanted(post_type: str, mentioned: bool, selectors: Iterable[str]) -> bool:
    """Whether a pending delivery to a remote entity still matters after it unsubscribed:
    it is mentioned, still subscribes to the type, or the post is a delete or meta post
    (those go to every earlier recipient and every relationship)."""
    if mentioned or post_type.startswith((DELETE_BASE + "#", META_BASE + "#")):
        return True
    return any_selector_matches(list(selectors), post_type)


def wants_webhook(app_post: dict[str, Any], grant: dict[str, Any] | None, post_type: str) -> bool:
    """An app is notified when it has a notification_url, a grant, and the type matches both
    its notification_types and the types it may read."""
    content = app_post.get("content") or {}
    if not content.get("notification_url") or grant is None:
        return False
    types = (grant.get("content") or {}).get("types") or {}
    readable = list(types.get("read") or []) + list(types.get("write") or [])
    return any_selector_matches(
        list(content.get("notification_types") or []), post_type
    ) and any_selector_matches(readable, post_type)
