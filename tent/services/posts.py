"""Our posts and the posts we receive: create, new version, import, delete, and a
notification from a peer (§7.5). The one place the API handlers and the owner's web pages
go through, so a rule (who may share, what a deletion leaves behind, which keys die with a
grant, what a delivered delete or subscription changes here) holds for both."""

from __future__ import annotations

import logging
from typing import Any

from tent.config import Settings
from tent.core.errors import TentError
from tent.core.model import Post
from tent.core.posts import (
    build_delete_post,
    build_import,
    build_new_post,
    build_new_version,
    build_received,
    now_ms,
    restrict_permissions,
)
from tent.core.principal import Principal
from tent.core.type_uris import (
    APP_AUTH_BASE,
    CREDENTIALS_TYPE,
    DELETE_TYPE,
    META_BASE,
    RELATIONSHIP_BASE,
    RELATIONSHIP_INITIAL_TYPE,
    SUBSCRIPTION_BASE,
)
from tent.core.types import parse_type
from tent.delivery.discovery import Discovery
from tent.delivery.federation import Federation, RelationshipFailed
from tent.services.deliveries import Deliveries
from tent.services.publishing import Publisher
from tent.store.federation import FederationStore
from tent.store.posts import PostStore

log = logging.getLogger(__name__)


def grant_keys(post: Post) -> list[str]:
    """The credentials posts an app-auth post names: deleting the grant deletes its keys, so
    the token is refused at once (not merely left without rights, D-72)."""
    parsed = parse_type(post["type"])
    if parsed is None or parsed.base_version != APP_AUTH_BASE:
        return []
    return [
        str(m["post"])
        for m in post.get("mentions") or []
        if str(m.get("type", "")).startswith(CREDENTIALS_TYPE) and m.get("post")
    ]


class Posts:
    def __init__(
        self,
        settings: Settings,
        store: PostStore,
        federation_store: FederationStore,
        publisher: Publisher,
        federation: Federation,
        deliveries: Deliveries,
    ) -> None:
        self.settings = settings
        self.store = store
        self.federation_store = federation_store
        self.publisher = publisher
        self.federation = federation
        self.deliveries = deliveries
        self.db = store.db

    @property
    def discovery(self) -> Discovery:
        return self.federation.discovery

    async def create(self, body: dict[str, Any], principal: Principal) -> Post:
        """A new post of ours, stored with its deliveries. `body` is validated already."""
        body = restrict_permissions(body, principal.has_scope("permissions"))
        post = build_new_post(body, entity=self.settings.entity, now=now_ms(), app=principal.app)
        await self.publisher.publish(post)
        return post

    async def new_version(self, body: dict[str, Any], latest: Post, principal: Principal) -> Post:
        """A new version of one of our posts (the meta post too: it then reaches every peer)."""
        body = restrict_permissions(body, principal.has_scope("permissions"))
        post = build_new_version(body, latest, now=now_ms(), app=principal.app)
        await self.publisher.publish(post, new=False)
        return post

    async def import_version(self, body: dict[str, Any], entity: str, post_id: str) -> Post:
        """A version imported as it was (the `import` scope): stored, never delivered."""
        post = build_import({**body, "entity": entity, "id": post_id}, now=now_ms())
        await self.store.add_version(post)
        return post

    async def delete(
        self,
        post: Post,
        principal: Principal,
        *,
        version: str | None = None,
        record: bool = True,
    ) -> Post | None:
        """Delete a post (or one version); our own posts leave a delete post for their readers
        (D-24) unless `record` is false. Returns that delete post."""
        entity, post_id = post["entity"], post["id"]
        ours = entity == self.settings.entity
        delete_record = None
        if ours and record:
            delete_record = build_delete_post(post, version=version, now=now_ms(), app=principal.app)
        async with self.db.transaction():
            if version is None:
                await self.store.delete_post(entity, post_id)
                for key in grant_keys(post):
                    await self.store.delete_post(entity, key)
            else:
                await self.store.delete_version(entity, post_id, version)
            if delete_record is not None:
                await self.publisher.publish(delete_record)
            if version is None and ours and post["type"].startswith(RELATIONSHIP_BASE):
                for mention in post.get("mentions") or []:  # our side of a relationship is gone
                    if mention.get("entity"):
                        await self.deliveries.relationship_removed(mention["entity"])
        return delete_record

    # -- what peers send us (§7.5) -----------------------------------------------------

    async def receive(
        self, body: dict[str, Any], sender: str, link_headers: list[str]
    ) -> tuple[Post, str | None]:
        """Store a post a peer delivered and apply what it changes here; a relationship offer
        (§7.2) is checked first. Returns our copy and, for an offer, our credentials Link."""
        if body["type"] == RELATIONSHIP_INITIAL_TYPE:
            try:
                ra, link = await self.federation.accept_initiation(body, link_headers)
            except RelationshipFailed as exc:
                log.info("refused a relationship offer from %s: %s", sender, exc)
                raise TentError(str(exc)) from None
            copy = build_received(ra, now=now_ms())
            await self.store.add_version(copy)
            return copy, link
        now = now_ms()
        copy = build_received(body, now=now)
        async with self.db.transaction():
            if await self.store.add_version(copy):
                await self._effects(copy, sender)
                await self.publisher.dispatch(copy, remote=True)
        await self.federation_store.reset_backoff(sender, now)
        return copy, None

    async def _effects(self, post: Post, sender: str) -> None:
        """What a delivered post changes here besides being stored (§7.5 step 4)."""
        parsed = parse_type(post["type"])
        base = parsed.base_version if parsed else ""
        if post["type"] == DELETE_TYPE:
            for ref in post.get("refs") or []:
                if (ref.get("entity") or sender) != sender or not ref.get("post"):
                    continue  # a delete is only honoured for the sender's own posts (§7.10)
                deleted = await self.store.get(sender, ref["post"])
                if ref.get("version"):
                    await self.store.delete_version(sender, ref["post"], ref["version"])
                else:
                    await self.store.delete_post(sender, ref["post"])
                await self.federation_store.remove_subscription(sender, ref["post"])
                deleted_type = str((deleted or {}).get("type", ""))
                if deleted_type.startswith(SUBSCRIPTION_BASE + "#"):
                    await self.deliveries.unsubscribed(sender)
                elif deleted_type.startswith(RELATIONSHIP_BASE + "#") and not ref.get("version"):
                    await self.deliveries.relationship_removed(sender)
        elif base == SUBSCRIPTION_BASE:
            mentions = post.get("mentions") or []
            selector = (post.get("content") or {}).get("type")
            if mentions and mentions[0].get("entity") == self.settings.entity and isinstance(selector, str):
                await self.federation_store.add_subscription(sender, selector, post["id"])
        elif base == META_BASE:
            await self.federation_store.set_remote_meta(sender, post, now_ms())
            self.db.on_commit(lambda: self.discovery.remember(sender, post))
