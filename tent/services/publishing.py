"""Storing posts together with their deliveries, in one transaction: a post is never
acknowledged before the outbox rows that will carry it are durable (ARCHITECTURE.md).

Who subscribes and which apps want webhooks change rarely but are needed for every post,
so they are cached in memory, dropped whenever any process on the database stores a post
or row that could change them (tent.store.changes; subscribed in tent.services.container). A post
with nobody to deliver to is then a single INSERT.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Protocol

from tent.config import Settings
from tent.core.dispatch import recipients, wants_webhook
from tent.core.model import Post
from tent.core.posts import now_ms
from tent.core.principal import principal_for_credentials
from tent.core.type_uris import DELETE_TYPE, META_TYPE
from tent.store.federation import Delivery, FederationStore, Lease
from tent.store.posts import PostStore

CACHE_SECONDS = 5.0  # a safety net only: every change empties the cache (tent.store.changes)


class Sender(Protocol):
    """This process's outbox worker, which takes rows of a new post as they are written.
    Every lease it grants is settled by exactly one `take`: with the rows once the unit that
    wrote them commits, with none if it rolls back (the room it promised is free again)."""

    def lease(self, now: int, wanted: int) -> Lease | None: ...

    def take(self, lease: Lease, rows: list[Delivery]) -> None: ...


class Publisher:
    def __init__(self, settings: Settings, posts: PostStore, federation: FederationStore) -> None:
        self.settings = settings
        self.posts = posts
        self.federation = federation
        self.sender: Sender | None = None  # set while this process's outbox runs
        self._cache: tuple[float, dict[str, list[str]], list[tuple[dict[str, Any], Any]]] | None = None

    def invalidate(self) -> None:
        self._cache = None

    async def _audience(self) -> tuple[dict[str, list[str]], list[tuple[dict[str, Any], Any]]]:
        cached = self._cache
        if cached is None or cached[0] < time.monotonic():
            generation = self.posts.changes.generation
            subscribers = await self.federation.subscribers()
            apps = await self.federation.webhook_apps(self.settings.entity)
            cached = (time.monotonic() + CACHE_SECONDS, subscribers, apps)
            if self.posts.changes.may_keep(generation):  # a load racing a change is used once
                self._cache = cached
        return cached[1], cached[2]

    async def targets(self, post: Post, *, remote: bool = False) -> tuple[dict[str, bool], dict[str, bool]]:
        """(entities, apps) that get this version: entities only for our own posts; apps for
        every post, received ones too (D-40). Reads join the caller's unit of work."""
        subscribers, apps = await self._audience()
        entities: dict[str, bool] = {}
        if not remote:
            groups = [str(g.get("post")) for g in (post.get("permissions") or {}).get("groups") or []]
            members = await self.federation.group_members(self.settings.entity, groups) if groups else {}
            also: list[str] = []
            if post["type"].startswith(META_TYPE):
                also = await self.federation.active_relationships()
            elif post["type"] == DELETE_TYPE:  # whoever got the deleted post learns of its deletion
                for ref in post.get("refs") or []:
                    if ref.get("entity", post["entity"]) == post["entity"] and ref.get("post"):
                        also += await self.federation.recipients_of(post["entity"], ref["post"])
            entities = recipients(post, self.settings.entity, subscribers, members, also)
        webhooks = {
            app["id"]: False
            for app, grant in apps
            if wants_webhook(app, grant, post["type"])
            and principal_for_credentials(grant, None).can_read(post, self.settings.entity)
        }
        return entities, webhooks

    async def publish(self, post: Post, *, new: bool = True) -> bool:
        """Store one of our posts (or a new version) and queue it for every recipient, in
        the caller's unit of work or one of its own."""
        entities, webhooks = await self.targets(post)
        if not entities and not webhooks and new:
            return await self.posts.create(post)  # outside a unit: a single INSERT
        async with self.posts.db.transaction():
            stored = await (self.posts.create(post) if new else self.posts.add_version(post))
            if stored:
                await self.enqueue(post, entities, webhooks)
        return stored

    async def enqueue(self, post: Post, entities: dict[str, bool], webhooks: dict[str, bool]) -> None:
        """The rows this process's outbox can take are written leased to it and handed to it
        when the unit commits: its sends start then, without a claim query (D-96)."""
        now = now_ms()
        sender, db = self.sender, self.posts.db
        lease = None
        if sender is not None and db.in_transaction and (entities or webhooks):
            lease = sender.lease(now, len(entities) + len(webhooks))
        leased: list[Delivery] = []
        if sender is not None and lease is not None:
            granted = lease
            db.on_commit(lambda: sender.take(granted, leased))
            db.on_rollback(lambda: sender.take(granted, []))
        leased += await self.federation.enqueue("entity", entities, post, now, lease)
        if lease is not None:
            lease = dataclasses.replace(lease, limit=lease.limit - len(leased))
        leased += await self.federation.enqueue("app", webhooks, post, now, lease)

    async def dispatch(self, post: Post, *, remote: bool = False) -> None:
        """Queue deliveries of a version already stored in this unit of work."""
        entities, webhooks = await self.targets(post, remote=remote)
        await self.enqueue(post, entities, webhooks)
