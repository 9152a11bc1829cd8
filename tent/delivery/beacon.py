"""Checking a turf an authorization request names (seed 001): fetch the turf's signed
manifest through the guarded client, find the named entity's proof, discover the entity's
meta post and check the signature with the key of the proof's life.

The outcome is a boolean with a reason in words for the owner; nothing here raises for a
bad turf, a bad site or a bad entity, and the whole check is bounded by one timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from tent.core import beacon
from tent.delivery.client import HttpClient, RequestRefused
from tent.delivery.discovery import Discovery, DiscoveryFailed

MAX_MANIFEST_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Outcome:
    verified: bool
    reason: str | None = None


def _loopback(turf: str) -> bool:
    if turf == "localhost" or turf.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(turf).is_loopback
    except ValueError:
        return False


class TurfVerifier:
    def __init__(self, http: HttpClient, discovery: Discovery, timeout: float) -> None:
        self.http = http
        self.discovery = discovery
        self.timeout = timeout

    def manifest_url(self, turf: str) -> str:
        """https, except plain http to loopback when private addresses are allowed (tests)."""
        scheme = "http" if self.http.allow_private and _loopback(turf) else "https"
        return f"{scheme}://{turf}{beacon.MANIFEST_PATH}"

    async def check(self, turf: str, entity: str) -> Outcome:
        try:
            async with asyncio.timeout(self.timeout):
                await self._check(turf, entity)
        except beacon.NotVerified as exc:
            return Outcome(False, str(exc))
        except TimeoutError:
            return Outcome(False, f"no answer within {self.timeout:g} s")
        return Outcome(True)

    async def _check(self, turf: str, entity: str) -> None:
        proof = beacon.find_proof(await self._manifest(turf), turf, entity)
        beacon.life_of(proof)
        meta = await self._meta(entity, fresh=False)
        try:
            beacon.verify(proof, meta.get("content"))
        except beacon.NotVerified:
            # A key rotated since the meta post was cached: look again before refusing.
            beacon.verify(proof, (await self._meta(entity, fresh=True)).get("content"))

    async def _manifest(self, turf: str) -> Any:
        url = self.manifest_url(turf)
        try:
            resp = await self.http.request(
                "GET", url, headers={"Accept": "application/json"}, max_bytes=MAX_MANIFEST_BYTES
            )
        except RequestRefused as exc:
            raise beacon.NotVerified(f"the manifest could not be fetched: {exc}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise beacon.NotVerified(f"the manifest at {url} could not be fetched: {exc}") from None
        if resp.status != 200:
            raise beacon.NotVerified(f"the manifest at {url} answered HTTP {resp.status}")
        try:
            return orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            raise beacon.NotVerified(f"the manifest at {url} is not JSON") from None

    async def _meta(self, entity: str, *, fresh: bool) -> dict[str, Any]:
        if fresh:
            self.discovery.forget(entity)
        try:
            return await self.discovery.meta(entity)
        except DiscoveryFailed as exc:
            raise beacon.NotVerified(f"{entity} could not be discovered: {exc}") from None
