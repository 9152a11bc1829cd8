"""Reading posts as a requester may see them: the version a post URL answers with (D-10) and
the posts a response inlines for its refs (D-23). Shared by the API, the feed and the
visitors' pages, so a post hidden from a reader is hidden everywhere."""

from __future__ import annotations

from typing import Any

from tent.config import Settings
from tent.core.errors import NotFound
from tent.core.principal import Principal
from tent.core.render import render_post
from tent.delivery.proxy import NO_PROXY, PROXY, Proxy
from tent.store.posts import PostStore


class Reader:
    def __init__(self, settings: Settings, store: PostStore, proxy: Proxy) -> None:
        self.settings = settings
        self.store = store
        self.proxy = proxy

    async def readable_post(
        self, principal: Principal, entity: str, post_id: str, version: str | None
    ) -> dict[str, Any]:
        """The requested version, or the newest version this requester may read (D-10); 404s
        hide posts that exist but may not be read."""
        own = self.settings.entity
        if entity != own and not principal.app_level:
            raise NotFound()
        post = await self.store.get(entity, post_id, version)
        if post is not None and principal.can_read(post, own):
            return post
        if version is None and post is not None:
            visible = await self.store.get_many([(entity, post_id)], principal.feed_visibility(own))
            readable = [p for p in visible if principal.can_read(p, own)]
            if readable:
                return readable[0]
        raise NotFound()

    async def inline_refs(
        self, principal: Principal, posts: list[dict[str, Any]], max_refs: int, mode: str
    ) -> list[dict[str, Any]]:
        """The posts referenced by each post's first `max_refs` refs that the requester may
        read: the pinned version when a ref names one, else the newest readable (D-23). Other
        entities' posts we hold no copy of are fetched from their servers unless `mode` is
        `no-proxy`; with `proxy` they always are (§8)."""
        own_entity = self.settings.entity
        wanted: list[tuple[str, str, str | None]] = []
        for post in posts:
            for ref in (post.get("refs") or [])[:max_refs]:
                if isinstance(ref, dict) and isinstance(ref.get("post"), str):
                    wanted.append((ref.get("entity") or post["entity"], ref["post"], ref.get("version")))
        wanted = list(dict.fromkeys(wanted))
        local = [w for w in wanted if mode != PROXY or w[0] == own_entity]
        found = (
            await self.store.get_many([(w[0], w[1]) for w in local], principal.feed_visibility(own_entity))
            if local
            else []
        )
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str, str]] = set()
        missing = []
        for entity, post_id, version in wanted:
            candidates = [
                p
                for p in found
                if p["entity"] == entity
                and p["id"] == post_id
                and (version is None or p["version"]["id"] == version)
                and principal.can_read(p, own_entity)
            ]
            if not candidates:
                if entity != own_entity:
                    missing.append((entity, post_id, version))
                continue
            chosen = candidates[0]
            key = (chosen["entity"], chosen["id"], chosen["version"]["id"])
            if key not in seen:
                seen.add(key)
                out.append(render_post(chosen, principal))
        if missing and mode != NO_PROXY and principal.app_level:
            out.extend(await self.proxy.referenced(missing))
        return out
