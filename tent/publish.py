"""Storing posts together with their deliveries, in one transaction: a post is never
acknowledged before the outbox rows that will carry it are durable (ARCHITECTURE.md)."""

from __future__ import annotations

from typing import Any

from tent.config import Settings
from tent.core.dispatch import recipients, wants_webhook
from tent.core.posts import DELETE_TYPE, now_ms
from tent.store.federation import FederationStore
from tent.store.posts import PostStore


class Publisher:
    def __init__(self, settings: Settings, posts: PostStore, federation: FederationStore) -> None:
        self.settings = settings
        self.posts = posts
        self.federation = federation

    async def publish(self, post: dict[str, Any], *, new: bool = True, conn: Any = None) -> bool:
        """Store one of our posts (or a new version) and queue it for every recipient."""
        if conn is None:
            async with self.posts.pool.acquire() as c, c.transaction():
                return await self.publish(post, new=new, conn=c)
        stored = await (self.posts.create(post, conn) if new else self.posts.add_version(post, conn))
        if stored:
            await self.dispatch(post, conn)
        return stored

    async def dispatch(self, post: dict[str, Any], conn: Any, *, remote: bool = False) -> None:
        """Queue deliveries of a stored version: to entities for our own posts, to apps for
        every post (received ones too, D-40)."""
        now = now_ms()
        if not remote:
            groups = [str(g.get("post")) for g in (post.get("permissions") or {}).get("groups") or []]
            members = await self.federation.group_members(self.settings.entity, groups, conn)
            subscribers = await self.federation.subscribers(conn)
            relationships = await self.federation.active_relationships(conn) \
                if post["type"].startswith("https://tent.io/types/meta/v0#") else []
            if post["type"] == DELETE_TYPE:  # whoever got the deleted post learns of its deletion
                for ref in post.get("refs") or []:
                    if ref.get("entity", post["entity"]) == post["entity"] and ref.get("post"):
                        relationships += await self.federation.recipients_of(post["entity"], ref["post"], conn)
            targets = recipients(post, self.settings.entity, subscribers, members, relationships)
            await self.federation.enqueue(conn, "entity", targets, post, now)
        apps = {app["id"]: False for app, grant in await self.federation.webhook_apps(self.settings.entity, conn)
                if wants_webhook(app, grant, post["type"]) and self._app_may_read(grant, post)}
        await self.federation.enqueue(conn, "app", apps, post, now)

    def _app_may_read(self, grant: dict[str, Any] | None, post: dict[str, Any]) -> bool:
        from tent.core.principal import principal_for_credentials

        principal = principal_for_credentials(grant, None)
        return principal.can_read(post, self.settings.entity)
