"""Server-to-server: relationship initiation in both roles (§7.2), notifications to peers
(§7.5) and to apps (§6.9); proxying (§8) is `tent.delivery.proxy`, sharing its HTTP client
and discovery."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from tent.auth.hawk import Credentials, bewit_url
from tent.config import Settings
from tent.core import media
from tent.core.links import header_links
from tent.core.media import REL_CREDENTIALS
from tent.core.posts import build_new_post, build_new_version, now_ms
from tent.core.principal import ANONYMOUS, Principal, principal_for_credentials
from tent.core.render import render_post
from tent.core.retry import Outcome, classify_status, describe_status, parse_retry_after
from tent.core.type_uris import (
    CREDENTIALS_RELATIONSHIP_TYPE,
    CREDENTIALS_TYPE,
    META_TYPE,
    RELATIONSHIP_INITIAL_TYPE,
    RELATIONSHIP_TYPE,
    SUBSCRIPTION_META_TYPE,
)
from tent.delivery.client import HttpClient, RequestRefused, Response
from tent.delivery.discovery import Discovery, DiscoveryFailed
from tent.delivery.explain import describe_error, host_of
from tent.delivery.proxy import Proxy, endpoint_urls, hawk_headers
from tent.services.publishing import Publisher
from tent.store.federation import Delivery, FederationStore, Relationship
from tent.store.posts import PostStore

log = logging.getLogger(__name__)

LINK_SECONDS = 24 * 3600


class RelationshipFailed(Exception):
    def __init__(self, message: str, reason: str = "relationship_failed") -> None:
        super().__init__(message)
        self.reason = reason


def credentials_link(header_values: list[str]) -> str | None:
    return next(iter(header_links(header_values, REL_CREDENTIALS)), None)


def notification_body(post: dict[str, Any]) -> bytes:
    """What peers receive: the anonymous view, but with `version.parents[].post` kept (§7.5)."""
    out = render_post(post, ANONYMOUS)
    parents = (post.get("version") or {}).get("parents")
    if parents:
        out["version"] = {**out["version"], "parents": parents}
    return orjson.dumps(out)


def _remote_credentials(post: dict[str, Any]) -> dict[str, Any]:
    content = post.get("content") or {}
    if not isinstance(content.get("hawk_key"), str):
        raise RelationshipFailed("Invalid credentials post!")
    return {
        "id": post["id"],
        "hawk_key": content["hawk_key"],
        "hawk_algorithm": content.get("hawk_algorithm", "sha256"),
    }


def relationship_posts(
    rel_type: str, entity: str, mentions: list[dict[str, Any]], *, own: str, now: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Our relationship post for `entity` and the credentials we hand that entity's server
    (they mention the relationship post, which is how its requests are recognised, §5.1)."""
    rel = build_new_post(
        {"type": rel_type, "mentions": mentions, "permissions": {"public": False, "entities": [entity]}},
        entity=own,
        now=now,
    )
    creds = build_new_post(
        {
            "type": CREDENTIALS_RELATIONSHIP_TYPE,
            "permissions": {"public": False},
            "content": {"hawk_key": secrets.token_hex(32), "hawk_algorithm": "sha256"},
            "mentions": [{"entity": own, "post": rel["id"], "type": rel_type}],
        },
        entity=own,
        now=now,
    )
    return rel, creds


class Federation:
    def __init__(
        self,
        settings: Settings,
        posts: PostStore,
        store: FederationStore,
        publisher: Publisher,
        server_credentials: Credentials,
    ) -> None:
        self.settings = settings
        self.posts = posts
        self.store = store
        self.publisher = publisher
        self.server_credentials = server_credentials
        self.http = HttpClient(settings.allow_private_addresses, settings.outgoing_timeout)
        self.discovery = Discovery(self.http)
        self.proxy = Proxy(self.http, self.discovery, store, posts, settings.entity)
        self._locks: dict[str, asyncio.Lock] = {}
        # A post fanned out to many peers is read and rendered once, not once per peer: the
        # first sends of a fan-out start together, so they share one read in flight (D-91).
        self._bodies: dict[tuple[str, str, str], asyncio.Task[tuple[dict[str, Any], bytes] | None]] = {}

    async def close(self) -> None:
        await self.http.close()

    # -- helpers -----------------------------------------------------------------------

    def _our_post_url(self, post_id: str) -> str:
        from urllib.parse import quote

        return f"{self.settings.root}/posts/{quote(self.settings.entity, safe=':')}/{quote(post_id, safe='')}"

    def _bewit_link(self, post_id: str) -> str:
        url = bewit_url(self.server_credentials, self._our_post_url(post_id), int(time.time()) + LINK_SECONDS)
        return f'<{url}>; rel="{REL_CREDENTIALS}"'

    @staticmethod
    def post_urls(meta: dict[str, Any], entity: str, post_id: str) -> list[str]:
        return endpoint_urls(meta, "post", entity=entity, post=post_id)

    async def _signed(
        self,
        method: str,
        url: str,
        creds: dict[str, Any] | None,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        headers = hawk_headers(method, url, creds, headers, body=body, content_type=content_type)
        return await self.http.request(
            method, url, headers=headers, data=body, follow_redirects=method == "GET"
        )

    # -- relationships: initiating (A) -------------------------------------------------

    async def ensure_relationship(self, entity: str) -> Relationship:
        rel = await self.store.relationship(entity)
        if rel is not None and rel.active and rel.remote_credentials and rel.remote_meta:
            return rel
        lock = self._locks.setdefault(entity, asyncio.Lock())
        async with lock:
            rel = await self.store.relationship(entity)
            if rel is not None and rel.active and rel.remote_credentials and rel.remote_meta:
                return rel
            return await self._initiate(entity, rel)

    async def _initiate(self, entity: str, rel: Relationship | None) -> Relationship:
        own, now = self.settings.entity, now_ms()
        try:  # discovery first: no relationship posts for entities that cannot be found
            meta = await self.discovery.meta(entity)
        except DiscoveryFailed:
            self.discovery.forget(entity)
            raise
        if rel is None or not rel.our_post_id or not rel.our_credentials_id:
            ra, ca = relationship_posts(
                RELATIONSHIP_INITIAL_TYPE, entity, [{"entity": entity}], own=own, now=now
            )
            rel = Relationship(entity, ra["id"], ca["id"], None, None, False)
            async with self.posts.db.transaction():
                await self.posts.create(ra)
                await self.posts.create(ca)
                await self.store.save_relationship(rel, now)
        ra = await self.posts.get(own, rel.our_post_id or "")
        if ra is None:
            raise RelationshipFailed("our relationship post is gone")
        last_error = "no server"
        for url in self.post_urls(meta, own, ra["id"]):
            try:
                resp = await self.http.request(
                    "PUT",
                    url,
                    data=notification_body(ra),
                    follow_redirects=False,
                    headers={
                        "Content-Type": media.post_media_type(ra["type"], media.REL_NOTIFICATION),
                        "Link": self._bewit_link(rel.our_credentials_id or ""),
                    },
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                last_error = describe_error(exc, host_of(url))
                continue
            if resp.status > 500:
                last_error = f"HTTP {resp.status}"
                continue
            if resp.status != 200:
                raise RelationshipFailed(
                    f"{entity} refused the relationship: {describe_status(resp.status)}"
                    f" {resp.body[:200].decode('utf-8', 'replace')}"
                )
            return await self._complete(entity, rel, ra, meta, resp)
        raise RelationshipFailed(last_error, "unreachable")

    async def _complete(
        self, entity: str, rel: Relationship, ra: dict[str, Any], meta: dict[str, Any], resp: Response
    ) -> Relationship:
        link = credentials_link(resp.headers.getall("Link", []))
        if not link:
            raise RelationshipFailed("Expected link to credentials post!")
        creds_resp = await self.http.request("GET", link, headers={"Accept": media.POST})
        cb = creds_resp.json().get("post") if creds_resp.status == 200 else None
        if not isinstance(cb, dict) or not str(cb.get("type", "")).startswith(
            CREDENTIALS_TYPE
        ):
            raise RelationshipFailed("Invalid credentials post!")
        remote = _remote_credentials(cb)
        rb_ref = next((m for m in cb.get("mentions") or [] if m.get("post")), None)
        if rb_ref is None:
            raise RelationshipFailed("Invalid credentials post!")
        status = None
        for url in self.post_urls(meta, entity, rb_ref["post"]):
            check = await self._signed("GET", url, remote, headers={"Accept": media.POST})
            status = check.status
            if status == 200:
                break
        else:
            raise RelationshipFailed(f"Failed to fetch relationship post (HTTP {status})")
        now = now_ms()
        rel = Relationship(entity, rel.our_post_id, rel.our_credentials_id, remote, meta, True)
        confirmed = build_new_version(
            {
                "type": RELATIONSHIP_TYPE,
                "mentions": [{"entity": entity}],
                "permissions": {"public": False, "entities": [entity]},
                "version": {"parents": [{"version": ra["version"]["id"]}]},
            },
            ra,
            now=now,
        )
        subscription = build_new_post(
            {
                "type": SUBSCRIPTION_META_TYPE,
                "content": {"type": META_TYPE},
                "mentions": [{"entity": entity}],
                "permissions": {"public": False, "entities": [entity]},
            },
            entity=self.settings.entity,
            now=now,
        )
        async with self.posts.db.transaction():
            await self.store.save_relationship(rel, now)
            await self.publisher.publish(confirmed, new=False)
            await self.publisher.publish(subscription)
        log.info("relationship with %s is active", entity)
        return rel

    # -- relationships: responding (B) ------------------------------------------------

    async def accept_initiation(
        self, ra: dict[str, Any], link_headers: list[str]
    ) -> tuple[dict[str, Any], str]:
        """Check an offered relationship (§7.2 steps 3–7); returns (RA, our credentials Link).
        Raises RelationshipFailed with tentd's messages, answered as 400."""
        entity = ra.get("entity")
        if not isinstance(entity, str) or ra.get("type") != RELATIONSHIP_INITIAL_TYPE or not ra.get("id"):
            raise RelationshipFailed("Invalid relationship post!")
        link = credentials_link(link_headers)
        if not link:
            raise RelationshipFailed("Expected link to credentials post!")
        self.discovery.forget(entity)
        try:
            meta = await self.discovery.meta(entity)
        except DiscoveryFailed as exc:
            raise RelationshipFailed(f'Discovery of entity "{entity}" failed!') from exc
        link_origin = urlsplit(link)[:2]
        origins = {urlsplit(u)[:2] for u in self.post_urls(meta, entity, "x")}
        if link_origin not in origins:
            raise RelationshipFailed("Matching server not found!")
        try:
            creds_resp = await self.http.request("GET", link, headers={"Accept": media.POST})
            ca = creds_resp.json().get("post") if creds_resp.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError, RequestRefused, ValueError, AttributeError):
            ca = None
        if not isinstance(ca, dict):
            raise RelationshipFailed(f'Failed to fetch credentials post from "{link}"!')
        if not str(ca.get("type", "")).startswith(CREDENTIALS_TYPE):
            raise RelationshipFailed("Invalid credentials post!")
        remote = _remote_credentials(ca)
        for url in self.post_urls(meta, entity, ra["id"]):
            try:
                check = await self._signed("GET", url, remote, headers={"Accept": media.POST})
            except (aiohttp.ClientError, OSError, TimeoutError, RequestRefused):
                continue
            if check.status == 200:
                break
        else:
            raise RelationshipFailed(f'Failed to fetch relationship post from "{entity}"!')
        own, now = self.settings.entity, now_ms()
        existing = await self.store.relationship(entity)
        rb, cb = relationship_posts(
            RELATIONSHIP_TYPE,
            entity,
            [{"entity": entity, "type": RELATIONSHIP_INITIAL_TYPE, "post": ra["id"]}],
            own=own,
            now=now,
        )
        rel = Relationship(entity, rb["id"], cb["id"], remote, meta, True)
        async with self.posts.db.transaction():
            await self.store.save_relationship(rel, now)
            await self.posts.create(cb)
            await self.publisher.publish(rb)
        if existing is not None and existing.active:
            log.info("relationship with %s renewed", entity)
        return ra, self._bewit_link(cb["id"])

    # -- notifications -------------------------------------------------------------------

    async def _version(self, delivery: Delivery) -> tuple[dict[str, Any], bytes] | None:
        key = (delivery.post_entity, delivery.post_id, delivery.version_id)
        loading = self._bodies.get(key)
        if loading is None:
            if len(self._bodies) >= 64:
                self._bodies.pop(next(iter(self._bodies)))
            loading = self._bodies[key] = asyncio.create_task(self._load_version(key))
            loading.add_done_callback(lambda task: self._keep_found(key, task))
        elif loading.done() and not loading.cancelled() and loading.exception() is None:
            return loading.result()  # the usual case in a fan-out: no shield to build and wait on
        return await asyncio.shield(loading)  # one waiter cancelled leaves the read to the others

    async def _load_version(self, key: tuple[str, str, str]) -> tuple[dict[str, Any], bytes] | None:
        post = await self.posts.get(*key)
        return (post, notification_body(post)) if post is not None else None

    def _keep_found(self, key: tuple[str, str, str], task: asyncio.Task[Any]) -> None:
        """A failed read, or a missing version (it may be a replica lag), is not remembered."""
        failed = task.cancelled() or task.exception() is not None or task.result() is None
        if failed and self._bodies.get(key) is task:
            del self._bodies[key]

    def forget_bodies(self) -> None:
        """A deletion may remove a cached version: deleted posts are not sent."""
        self._bodies.clear()

    async def deliver(self, delivery: Delivery) -> Outcome:
        found = await self._version(delivery)
        post = found[0] if found else None
        if post is None:
            return Outcome(
                False, "delivery_failed", permanent=True, detail="the post was deleted before delivery"
            )
        if delivery.kind == "app":
            return await self._webhook(delivery.target, post)
        try:
            rel = await self.ensure_relationship(delivery.target)
        except DiscoveryFailed as exc:
            return Outcome(False, exc.reason, detail=str(exc))
        except RelationshipFailed as exc:
            return Outcome(False, exc.reason, detail=str(exc))
        except (aiohttp.ClientError, OSError, TimeoutError, RequestRefused, ValueError) as exc:
            return Outcome(False, "relationship_failed", detail=describe_error(exc, host_of(delivery.target)))
        body = found[1] if found else notification_body(post)
        content_type = media.post_media_type(post["type"], media.REL_NOTIFICATION)
        outcome = Outcome(False, "unreachable", detail="no server")
        for url in self.post_urls(rel.remote_meta or {}, post["entity"], post["id"]):
            try:
                resp = await self._signed(
                    "PUT", url, rel.remote_credentials, body=body, content_type=content_type
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                outcome = Outcome(False, "unreachable", detail=describe_error(exc, host_of(url)))
                continue
            except RequestRefused as exc:
                return Outcome(False, "delivery_failed", permanent=True, detail=str(exc))
            outcome = classify_status(
                resp.status, parse_retry_after(resp.headers.get("Retry-After"), time.time())
            )
            if outcome.ok or outcome.reason != "unreachable":
                return outcome
        return outcome

    async def _webhook(self, app_id: str, post: dict[str, Any]) -> Outcome:
        """PUT to the app's notification_url, signed with the app credentials (§6.9)."""
        entity = self.settings.entity
        apps = {app["id"]: (app, grant) for app, grant in await self.store.webhook_apps(entity)}
        if app_id not in apps:
            return Outcome(
                False, "delivery_failed", permanent=True, detail="the app no longer wants notifications"
            )
        app, grant = apps[app_id]
        creds = await self.store.app_credentials(entity, app_id)
        principal: Principal = principal_for_credentials(grant, app)
        if creds is None or not principal.can_read(post, entity):
            return Outcome(False, "delivery_failed", permanent=True, detail="the app may not read this post")
        url = str(app["content"]["notification_url"])
        body = orjson.dumps(render_post(post, principal))
        content_type = media.post_media_type(post["type"], media.REL_NOTIFICATION)
        try:
            resp = await self._signed(
                "PUT",
                url,
                {"id": creds["id"], "hawk_key": creds["content"]["hawk_key"]},
                body=body,
                content_type=content_type,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return Outcome(False, "unreachable", detail=describe_error(exc, host_of(url)))
        except RequestRefused as exc:
            return Outcome(False, "delivery_failed", permanent=True, detail=str(exc))
        return classify_status(resp.status, parse_retry_after(resp.headers.get("Retry-After"), time.time()))
