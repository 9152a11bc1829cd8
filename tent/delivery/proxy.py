"""Request proxying (§8): reading other entities' posts, feeds, meta posts and
attachments from their own servers on behalf of our owner and authorized apps.

Every upstream request goes to a server named in the entity's meta post (the copy the
relationship holds, else discovery), is signed with the credentials that entity gave us when
there is a relationship (unsigned otherwise), and passes through the guarded HttpClient
(timeouts, size limits, no private addresses unless configured).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from tent.auth.hawk import Credentials, sign_request
from tent.core import media
from tent.core.feed import MAX_LIMIT, FeedQuery, sortable
from tent.core.principal import Visibility
from tent.core.type_uris import META_TYPE
from tent.core.types import TypeSelector
from tent.delivery.client import HttpClient, RequestRefused, Response
from tent.delivery.discovery import Discovery, DiscoveryFailed, servers
from tent.store.federation import FederationStore
from tent.store.posts import PostStore

META_SELECTOR = TypeSelector.parse(META_TYPE)

# What the request's `Cache-Control` asks for (§8), in the order tentd tests them.
PROXY_IF_MISS, NO_PROXY, PROXY = "proxy-if-miss", "no-proxy", "proxy"
MODES = (PROXY_IF_MISS, NO_PROXY, PROXY)


def proxy_mode(cache_control: str | None, default: str) -> str:
    """Substring tests in tentd's order: `proxy-if-miss`, then `no-proxy`, then `proxy`."""
    value = cache_control or ""
    return next((mode for mode in MODES if mode in value), default)


class ProxyFailed(Exception):
    """The upstream server could not be reached (502) or did not answer in time (504)."""

    def __init__(self, status: int, method: str, url: str) -> None:
        super().__init__(f"Failed to proxy request: {method} {url}")
        self.status = status


def hawk_headers(
    method: str,
    url: str,
    creds: dict[str, Any] | None,
    headers: dict[str, str] | None = None,
    *,
    body: bytes | None = None,
    content_type: str | None = None,
) -> dict[str, str]:
    """Request headers, with a Hawk `Authorization` when we hold credentials for the peer."""
    out = dict(headers or {})
    if content_type:
        out["Content-Type"] = content_type
    if creds:
        out["Authorization"] = sign_request(
            Credentials(creds["id"], creds["hawk_key"], creds.get("hawk_algorithm", "sha256")),
            method=method,
            url=url,
            content=body,
            content_type=content_type,
        )
    return out


def expand(template: str, **values: str) -> str:
    """RFC 6570 level 1, as the meta post's templates are: each `{var}` becomes its value
    with everything but unreserved characters percent-encoded."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", _quoted(value))
    return template


@lru_cache(maxsize=1024)
def _quoted(value: str) -> str:
    """A fan-out expands the same entity and post id for every peer."""
    return quote(value, safe="")


def endpoint_urls(meta: dict[str, Any], endpoint: str, **values: str) -> list[str]:
    """The endpoint's URL on each of the entity's servers, in the order to try them."""
    urls = []
    for server in servers(meta):
        template = (server.get("urls") or {}).get(endpoint)
        if isinstance(template, str):
            urls.append(expand(template, **values))
    return urls


@dataclass(slots=True)
class RemotePage:
    """One entity's feed page as its server answered it, kept only when it is a feed."""

    posts: list[dict[str, Any]]
    older_exist: bool
    count: int = 0


class Proxy:
    def __init__(
        self,
        http: HttpClient,
        discovery: Discovery,
        relationships: FederationStore,
        posts: PostStore,
        own_entity: str,
    ) -> None:
        self.http = http
        self.discovery = discovery
        self.relationships = relationships
        self.posts = posts
        self.own_entity = own_entity

    async def _upstream(self, entity: str, method: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The entity's meta post and the credentials to sign with (None: unsigned)."""
        rel = await self.relationships.relationship(entity)
        if rel is not None and rel.remote_meta:
            meta = rel.remote_meta
        else:
            try:
                meta = await self.discovery.meta(entity)
            except DiscoveryFailed as exc:
                timed_out = isinstance(exc.__cause__, TimeoutError)
                raise ProxyFailed(504 if timed_out else 502, method, entity) from exc
        creds = rel.remote_credentials if rel is not None and rel.active else None
        return meta, creds

    async def _urls(
        self, entity: str, endpoint: str, method: str, values: dict[str, str]
    ) -> tuple[list[str], dict[str, Any] | None]:
        meta, creds = await self._upstream(entity, method)
        urls = endpoint_urls(meta, endpoint, **values)
        if not urls:
            raise ProxyFailed(502, method, entity)
        return urls, creds

    async def request(
        self,
        entity: str,
        endpoint: str,
        values: dict[str, str],
        *,
        query: str = "",
        headers: dict[str, str] | None = None,
        method: str = "GET",
        follow_redirects: bool = True,
    ) -> Response:
        """One request to the endpoint, trying the entity's servers in order while they
        cannot be reached; the answer (any status) is returned as it is."""
        urls, creds = await self._urls(entity, endpoint, method, values)
        failure = ProxyFailed(502, method, urls[0] + query)
        for base in urls:
            url = base + query
            try:
                return await self.http.request(
                    method,
                    url,
                    headers=hawk_headers(method, url, creds, headers),
                    follow_redirects=follow_redirects,
                )
            except TimeoutError:
                failure = ProxyFailed(504, method, url)
            except (aiohttp.ClientError, OSError, RequestRefused):
                failure = ProxyFailed(502, method, url)
        raise failure

    @asynccontextmanager
    async def stream(
        self,
        entity: str,
        endpoint: str,
        values: dict[str, str],
        *,
        headers: dict[str, str] | None = None,
        method: str = "GET",
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Like `request`, but the body is left unread, to be passed on chunk by chunk: no
        overall time limit, but a stall ends it."""
        urls, creds = await self._urls(entity, endpoint, method, values)
        failure = ProxyFailed(502, method, urls[0])
        for url in urls:
            stack = AsyncExitStack()
            try:
                resp, _ = await stack.enter_async_context(
                    self.http.open(
                        method, url, headers=hawk_headers(method, url, creds, headers), stream=True
                    )
                )
            except TimeoutError:
                failure = ProxyFailed(504, method, url)
                continue
            except (aiohttp.ClientError, OSError, RequestRefused):
                failure = ProxyFailed(502, method, url)
                continue
            async with stack:
                yield resp
            return
        raise failure

    # -- posts -------------------------------------------------------------------------

    async def post(self, entity: str, post_id: str, query: str = "", accept: str | None = None) -> Response:
        values, headers = {"entity": entity, "post": post_id}, {"Accept": accept or media.POST}
        return await self.request(entity, "post", values, query=query, headers=headers)

    async def referenced(self, wanted: Iterable[tuple[str, str, str | None]]) -> list[dict[str, Any]]:
        """The posts (entity, post id, version or None) as their servers show them to us;
        those that fail or are not readable are left out (refs are best effort, as in tentd)."""

        async def one(entity: str, post_id: str, version: str | None) -> dict[str, Any] | None:
            try:
                resp = await self.post(entity, post_id, f"?version={version}" if version else "")
                post = resp.json().get("post") if resp.status == 200 else None
            except (ProxyFailed, ValueError, AttributeError):
                return None
            if (
                isinstance(post, dict)
                and post.get("entity") == entity
                and post.get("id") == post_id
                and (version is None or (post.get("version") or {}).get("id") == version)
            ):
                return post
            return None

        found = await asyncio.gather(*(one(*w) for w in dict.fromkeys(wanted)))
        return [post for post in found if post is not None]

    # -- feeds -------------------------------------------------------------------------

    async def feed(
        self, entity: str, params: Sequence[tuple[str, str]], accept: str | None, *, count: bool
    ) -> RemotePage:
        """The entity's own feed for the same query (`params`, naming only that entity).
        Posts that do not belong to the entity, or cannot be ordered, are dropped: another
        server may only speak for its own posts."""
        query = "?" + urlencode(list(params))
        headers = {"Accept": accept or media.FEED}
        resp = await self.request(entity, "posts_feed", {}, query=query, headers=headers)
        total = 0
        if count:
            head = await self.request(entity, "posts_feed", {}, query=query, headers=headers, method="HEAD")
            total = int(head.headers.get("Count", "0")) if head.headers.get("Count", "").isdigit() else 0
        try:
            body = resp.json() if resp.status == 200 else None
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("posts"), list):
            return RemotePage([], False, total)
        sort_by = next((v for k, v in params if k == "sort_by"), "received_at")
        posts = [p for p in body["posts"] if sortable(p, sort_by) and p.get("entity") == entity]
        pages = body.get("pages")
        return RemotePage(posts, isinstance(pages, dict) and "next" in pages, total)

    # -- meta posts (profiles) ---------------------------------------------------------

    async def metas(self, entities: Sequence[str], mode: str, vis: Visibility) -> dict[str, dict[str, Any]]:
        """Meta posts of these entities: stored copies (our own, and those a relationship
        delivered), then the relationship's and the discovery cache's; the rest by discovery
        unless `no-proxy`. `proxy` asks the other entities' servers again. Failures are
        left out."""
        found: dict[str, dict[str, Any]] = {}
        local = [e for e in entities if mode != PROXY or e == self.own_entity]
        for start in range(0, len(local), MAX_LIMIT):
            chunk = tuple(local[start : start + MAX_LIMIT])
            query = FeedQuery(limit=MAX_LIMIT, types=(META_SELECTOR,), entities=chunk)
            page = await self.posts.feed(query, vis, private_mentions=False).page()
            for post in page.posts:
                found.setdefault(post["entity"], post)
        missing = [e for e in entities if e not in found and e != self.own_entity]
        for entity in list(missing):
            if mode == PROXY:
                self.discovery.forget(entity)
                continue
            rel = await self.relationships.relationship(entity)
            meta = rel.remote_meta if rel is not None and rel.remote_meta else self.discovery.cached(entity)
            if meta is not None:
                found[entity] = meta
                missing.remove(entity)
        if mode != NO_PROXY and missing:

            async def discover(entity: str) -> tuple[str, dict[str, Any] | None]:
                try:
                    return entity, await self.discovery.meta(entity)
                except DiscoveryFailed:
                    return entity, None

            for entity, meta in await asyncio.gather(*(discover(e) for e in missing)):
                if meta is not None:
                    found[entity] = meta
        return found
