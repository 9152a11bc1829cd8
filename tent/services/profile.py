"""The owner's profile (name, bio, website, avatar) lives in the meta post: saving it makes
a new version, which the publisher sends to every relationship, as any meta change."""

from __future__ import annotations

from typing import Any

from tent.config import Settings
from tent.core.errors import TentError
from tent.core.principal import OWNER
from tent.core.type_uris import META_TYPE
from tent.core.validation import validate_post
from tent.services.posts import Posts

AVATAR = "avatar"
PROFILE_FIELDS = ("name", "bio", "website")


def avatar_of(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """The meta post's avatar attachment (named by `profile.avatar_digest`)."""
    if meta is None:
        return None
    digest = ((meta.get("content") or {}).get("profile") or {}).get("avatar_digest")
    return next((a for a in meta.get("attachments") or [] if digest and a.get("digest") == digest), None)


async def update_profile(
    posts: Posts, settings: Settings, fields: dict[str, str], avatar: dict[str, Any] | None
) -> dict[str, Any]:
    """A new meta version with these profile fields (empty ones removed) and, when given, a
    new avatar (an uploaded attachment entry) in place of the old one."""
    current = await posts.store.latest_of_type(settings.entity, META_TYPE)
    if current is None:
        raise TentError("The meta post is missing", 500)
    profile = {k: v for k, v in ((current.get("content") or {}).get("profile") or {}).items()}
    for name in PROFILE_FIELDS:
        value = fields.get(name, "").strip()
        if value:
            profile[name] = value
        else:
            profile.pop(name, None)
    attachments = [a for a in current.get("attachments") or [] if a is not avatar_of(current)]
    kept = avatar_of(current)
    if avatar is not None:
        if not str(avatar.get("content_type", "")).startswith("image/"):
            raise TentError("The avatar must be an image")
        kept = {**avatar, "category": AVATAR}
    if kept is not None:
        attachments.append(kept)
        profile["avatar_digest"] = kept["digest"]
    else:
        profile.pop("avatar_digest", None)
    body: dict[str, Any] = {
        "type": META_TYPE,
        "content": {**current["content"], "profile": profile},
        "version": {"parents": [{"version": current["version"]["id"]}]},
    }
    body, _ = validate_post(body)
    if attachments:
        body["attachments"] = attachments
    return await posts.new_version(body, current, OWNER)
