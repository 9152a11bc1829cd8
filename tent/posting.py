"""Creating, versioning and deleting our own posts: the one place the API handlers and the
owner's web pages go through, so a rule (who may share, what a deletion leaves behind,
which keys die with a grant) holds for both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tent.config import Settings
from tent.core.posts import build_delete_post, build_new_post, build_new_version, now_ms, restrict_permissions
from tent.core.principal import Principal
from tent.core.type_uris import APP_AUTH_BASE, CREDENTIALS_TYPE, RELATIONSHIP_BASE
from tent.core.types import base_version
from tent.publish import Publisher

if TYPE_CHECKING:
    from tent.delivery.federation import Federation



async def create_post(
    publisher: Publisher, settings: Settings, body: dict[str, Any], principal: Principal
) -> dict[str, Any]:
    """A new post of ours, stored with its deliveries. `body` is validated already."""
    body = restrict_permissions(body, principal.has_scope("permissions"))
    post = build_new_post(body, entity=settings.entity, now=now_ms(), app=principal.app)
    await publisher.publish(post)
    return post


async def new_version(
    publisher: Publisher, body: dict[str, Any], latest: dict[str, Any], principal: Principal
) -> dict[str, Any]:
    """A new version of one of our posts (the meta post too: it then reaches every peer)."""
    body = restrict_permissions(body, principal.has_scope("permissions"))
    post = build_new_version(body, latest, now=now_ms(), app=principal.app)
    await publisher.publish(post, new=False)
    return post


def _grant_keys(post: dict[str, Any]) -> list[str]:
    """The credentials posts an app-auth post names: deleting the grant deletes its keys, so
    the token is refused at once (not merely left without rights)."""
    if base_version(post["type"]) != APP_AUTH_BASE:
        return []
    return [
        str(m["post"])
        for m in post.get("mentions") or []
        if str(m.get("type", "")).startswith(CREDENTIALS_TYPE) and m.get("post")
    ]


async def delete_post(
    publisher: Publisher,
    settings: Settings,
    post: dict[str, Any],
    principal: Principal,
    *,
    version: str | None = None,
    record: bool = True,
    federation: Federation | None = None,
) -> dict[str, Any] | None:
    """Delete a post (or one version); our own posts leave a delete post for their readers
    (D-24) unless `record` is false. Returns that delete post."""
    store = publisher.posts
    entity, post_id = post["entity"], post["id"]
    delete_record = None
    if entity == settings.entity and record:
        delete_record = build_delete_post(post, version=version, now=now_ms(), app=principal.app)
    async with store.pool.acquire() as conn, conn.transaction():
        if version is None:
            await store.delete_post(entity, post_id, conn)
            for key in _grant_keys(post):
                await store.delete_post(entity, key, conn)
        else:
            await store.delete_version(entity, post_id, version, conn)
        if delete_record is not None:
            await publisher.publish(delete_record, conn=conn)
        relationship = post["type"].startswith(RELATIONSHIP_BASE)
        if federation is not None and version is None and entity == settings.entity and relationship:
            for mention in post.get("mentions") or []:  # our side of a relationship is gone
                if mention.get("entity"):
                    await federation.relationship_removed(mention["entity"], conn)
    return delete_record
