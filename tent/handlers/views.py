"""Posts shaped for the HTML templates: what a status, reply or repost shows, with links
to its page and its attachments. HTML only; the permission checks happen before."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tent.config import Settings
from tent.core.principal import is_public
from tent.core.type_uris import REPOST_BASE, STATUS_BASE
from tent.handlers.common import post_url

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")

Key = tuple[str, str]


def attachment_url(settings: Settings, entity: str, digest: str, *, owner: bool) -> str:
    """Our own server's attachment URL; the owner's pages use a session-checked twin, since a
    browser's request carries no Hawk signature and would only see public posts' files."""
    base = f"{settings.root}/owner/attachments/" if owner else f"{settings.root}/attachments/"
    return base + quote(entity, safe="") + "/" + quote(digest, safe="")


def repost_ref(post: dict[str, Any]) -> Key | None:
    if not post["type"].startswith(REPOST_BASE + "#"):
        return None
    refs = post.get("refs") or []
    if not refs or not refs[0].get("post"):
        return None
    return refs[0].get("entity") or post["entity"], refs[0]["post"]


def post_view(
    post: dict[str, Any],
    settings: Settings,
    *,
    names: dict[str, str] | None = None,
    reposted: dict[Key, dict[str, Any]] | None = None,
    owner: bool = False,
) -> dict[str, Any]:
    base, _, fragment = post["type"].partition("#")
    kind = "repost" if base == REPOST_BASE else "status" if base == STATUS_BASE else "other"
    content = post.get("content") if isinstance(post.get("content"), dict) else {}
    text = content.get("text") if isinstance(content.get("text"), str) else None
    if text is None and kind == "other":
        for member in ("title", "body", "name"):
            if isinstance(content.get(member), str):
                text = content[member]
                break
    own = post["entity"] == settings.entity
    view: dict[str, Any] = {
        "id": post["id"],
        "entity": post["entity"],
        "author": (names or {}).get(post["entity"]) or post["entity"],
        "type": post["type"],
        "kind": kind,
        "text": text,
        "published": post.get("published_at"),
        "public": is_public(post),
        "url": post_url(settings, post["entity"], post["id"]),
        "reply_to": None,
        "reposted": None,
        "repost_of": None,
        "attachments": [
            {
                "name": str(a.get("name", "")),
                "content_type": str(a.get("content_type", "")),
                "size": a.get("size"),
                "is_image": str(a.get("content_type", "")).lower() in IMAGE_TYPES,
                "url": attachment_url(settings, post["entity"], a["digest"], owner=owner)
                if own and a.get("digest")
                else None,
            }
            for a in post.get("attachments") or []
            if isinstance(a, dict)
        ],
    }
    if kind == "status" and fragment == "reply":
        target = next((m for m in post.get("mentions") or [] if m.get("post")), None)
        if target:
            entity = target.get("entity") or post["entity"]
            view["reply_to"] = {"entity": entity, "url": post_url(settings, entity, target["post"])}
    ref = repost_ref(post)
    if ref is not None:
        view["repost_of"] = {"entity": ref[0], "url": post_url(settings, *ref)}
        original = (reposted or {}).get(ref)
        if original is not None:
            view["reposted"] = post_view(original, settings, names=names, owner=owner)
    return view
