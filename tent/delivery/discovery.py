"""Discovery of other entities (§1.3, D-03): Link header on HEAD, then on GET, then an HTML
`<link>`; the first link that yields a valid meta post for that entity wins. Results are
cached for a while; server choice follows `preference`, random among equals."""

from __future__ import annotations

import random
import time
from typing import Any

import aiohttp

from tent.core.links import header_links, html_links
from tent.core.media import POST, REL_META_POST
from tent.core.retry import describe_status
from tent.core.type_uris import META_BASE
from tent.core.types import base_version
from tent.delivery.client import HttpClient, RequestRefused
from tent.delivery.explain import describe_error, host_of

CACHE_SECONDS = 300.0
CACHE_SIZE = 1000


class DiscoveryFailed(Exception):
    """`reason` uses the delivery-failure vocabulary: unreachable or discovery_failed."""

    def __init__(self, message: str, reason: str = "discovery_failed") -> None:
        super().__init__(message)
        self.reason = reason


def servers(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Servers in the order to try them: preference, then random among equals."""
    listed = [s for s in (meta.get("content") or {}).get("servers") or [] if isinstance(s, dict)]
    if len(listed) < 2:
        return listed  # nothing to order: the usual case, asked once per delivery
    random.shuffle(listed)
    return sorted(listed, key=lambda s: s.get("preference", 0) if isinstance(s.get("preference"), int) else 0)


def _refuse_if_down(entity: str, status: int) -> None:
    if status > 500:
        raise DiscoveryFailed(f"{host_of(entity)} answered {describe_status(status)}", "unreachable")


class Discovery:
    def __init__(self, http: HttpClient) -> None:
        self.http = http
        self.cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def forget(self, entity: str) -> None:
        self.cache.pop(entity, None)

    def remember(self, entity: str, meta: dict[str, Any]) -> None:
        if len(self.cache) >= CACHE_SIZE:
            self.cache.pop(next(iter(self.cache)))
        self.cache[entity] = (time.monotonic() + CACHE_SECONDS, meta)

    def cached(self, entity: str) -> dict[str, Any] | None:
        """The meta post found within the last few minutes, without asking anyone."""
        cached = self.cache.get(entity)
        return cached[1] if cached and cached[0] > time.monotonic() else None

    async def meta(self, entity: str) -> dict[str, Any]:
        cached = self.cached(entity)
        if cached is not None:
            return cached
        meta = await self._discover(entity)
        self.remember(entity, meta)
        return meta

    async def _discover(self, entity: str) -> dict[str, Any]:
        """§1.3 step 5, §7.9: a connection failure or a status above 500 is `unreachable`;
        `discovery_failed` is for a missing or dead meta link or an invalid meta post."""
        try:
            head = await self.http.request("HEAD", entity)
            _refuse_if_down(entity, head.status)
            links = header_links(head.headers.getall("Link", []), REL_META_POST, head.url)
            if not links:
                page = await self.http.request("GET", entity)
                _refuse_if_down(entity, page.status)
                links = header_links(page.headers.getall("Link", []), REL_META_POST, page.url)
                if not links and page.headers.get("Content-Type", "").startswith("text/html"):
                    links = html_links(page.body.decode("utf-8", "replace"), REL_META_POST, page.url)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DiscoveryFailed(describe_error(exc, host_of(entity)), "unreachable") from exc
        except RequestRefused as exc:
            raise DiscoveryFailed(str(exc)) from exc
        if not links:
            raise DiscoveryFailed(f"no meta post link at {entity}")
        down: list[str] = []  # links that did not answer at all
        for link in dict.fromkeys(links):
            try:
                resp = await self.http.request("GET", link, headers={"Accept": POST})
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                down.append(describe_error(exc, host_of(link)))
                continue
            except RequestRefused:
                continue
            if resp.status > 500:
                down.append(f"{host_of(link)} answered {describe_status(resp.status)}")
                continue
            if resp.status != 200:
                continue  # a dead link
            try:
                post = resp.json().get("post")
            except (ValueError, AttributeError):
                continue
            if self.valid(post, entity):
                return post
        if down and len(down) == len(dict.fromkeys(links)):
            raise DiscoveryFailed("; ".join(dict.fromkeys(down)), "unreachable")
        raise DiscoveryFailed(f"no valid meta post for {entity}")

    @staticmethod
    def valid(post: Any, entity: str) -> bool:
        if not isinstance(post, dict) or not isinstance(post.get("content"), dict):
            return False
        content = post["content"]
        return (
            base_version(post.get("type")) == META_BASE
            and content.get("entity") == entity
            and isinstance(content.get("servers"), list)
            and bool(content["servers"])
        )
