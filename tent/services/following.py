"""Following and unfollowing other entities, and who follows us: subscription posts made
through the same posting path as the API's, after discovery proved the entity exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tent.config import Settings
from tent.core.feed import parse_feed_query
from tent.core.principal import OWNER
from tent.core.statuses import (
    FOLLOWED_TYPES,
    followed_base,
    followed_entity,
    is_follow,
    subscription_body,
)
from tent.core.type_uris import SUBSCRIPTION_BASE
from tent.core.validation import validate_post
from tent.delivery.discovery import DiscoveryFailed
from tent.services.posts import Posts
from tent.store.federation import FederationStore

MAX_SUBSCRIPTIONS = 200


class FollowFailed(Exception):
    """Following is impossible; the message says why, in words."""


@dataclass(slots=True)
class Following:
    entity: str
    types: list[str] = field(default_factory=list)
    since: int | None = None
    name: str | None = None


class Follows:
    """Relationships and subscriptions as the owner sees them: whom we follow, who follows us."""

    def __init__(self, settings: Settings, posts: Posts, federation_store: FederationStore) -> None:
        self.settings = settings
        self.posts = posts
        self.federation_store = federation_store

    async def our_subscriptions(self) -> list[dict[str, Any]]:
        query = parse_feed_query(
            [
                ("types", SUBSCRIPTION_BASE),
                ("entities", self.settings.entity),
                ("limit", str(MAX_SUBSCRIPTIONS)),
            ],
            app_level=True,
        )
        vis = OWNER.feed_visibility(self.settings.entity)
        page = await self.posts.store.feed(query, vis, private_mentions=True).page()
        return [p for p in page.posts if is_follow(p)]

    async def followings(self) -> list[Following]:
        """Whom we follow, each with the name its meta post (our relationship's copy) gives."""
        out: dict[str, Following] = {}
        for sub in await self.our_subscriptions():
            entity, base = followed_entity(sub), followed_base(sub)
            if not entity or not base:
                continue
            f = out.setdefault(entity, Following(entity))
            f.types.append(base)
            f.since = min(f.since or sub["published_at"], sub["published_at"])
        for f in out.values():
            rel = await self.federation_store.relationship(f.entity)
            profile = (((rel.remote_meta if rel else None) or {}).get("content") or {}).get("profile") or {}
            name = profile.get("name") if isinstance(profile, dict) else None
            f.name = name if isinstance(name, str) and name else None
        return sorted(out.values(), key=lambda f: f.entity)

    async def follow(self, entity: str) -> Following:
        """Subscribe to the entity's statuses and reposts; what exists already is kept."""
        entity = entity.strip().rstrip("/")
        if not entity.startswith(("http://", "https://")):
            raise FollowFailed("An entity is a URL starting with https:// (or http://).")
        discovery = self.posts.discovery
        try:
            meta = await discovery.meta(entity)
        except DiscoveryFailed as exc:
            discovery.forget(entity)
            raise FollowFailed(f"{entity} is not a Tent entity we can reach: {exc}.") from None
        entity = str((meta.get("content") or {}).get("entity") or entity)
        if entity == self.settings.entity:
            raise FollowFailed("That is you.")
        existing = [s for s in await self.our_subscriptions() if followed_entity(s) == entity]
        covered = {followed_base(s) for s in existing}
        for base in FOLLOWED_TYPES:
            if base not in covered and "all" not in covered:
                body, _ = validate_post(subscription_body(entity, base))
                await self.posts.create(body, OWNER)
        name = ((meta.get("content") or {}).get("profile") or {}).get("name")
        return Following(entity, [*FOLLOWED_TYPES], name=name if isinstance(name, str) else None)

    async def unfollow(self, entity: str) -> int:
        """Delete our status and repost subscriptions to the entity (a server's own
        subscription to a peer's meta post is not ours to remove). Returns how many."""
        gone = 0
        for sub in await self.our_subscriptions():
            if followed_entity(sub) == entity:
                await self.posts.delete(sub, OWNER)
                gone += 1
        return gone

    async def followers(self) -> list[Following]:
        """Entities subscribed to our posts, with the types they asked for."""
        subscribers = await self.federation_store.subscribers()
        return [Following(entity, sorted(set(types))) for entity, types in sorted(subscribers.items())]
