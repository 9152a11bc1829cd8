"""Who is asking: Hawk headers and bewits turned into a Principal (docs/protocol.md §4, §5.1).

The server's own credentials act as the owner (they sign the bewit URLs the server hands
out); any other key id names a credentials post, and the post that one mentions decides the
kind of requester. A bewit stands for whichever of these keys signed it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from tent.auth.hawk import (
    Credentials,
    HawkError,
    PayloadHash,
    RequestAuth,
    bewit_key_id,
    nonce_key,
    parse_authorization,
    strip_bewit,
    verify_bewit,
    verify_request,
)
from tent.auth.payload import PAYLOAD_CHECK, PayloadCheck, streams_its_body
from tent.auth.replay import ReplayGuard
from tent.config import Settings
from tent.core.principal import ANONYMOUS, OWNER, Principal, principal_for_credentials
from tent.http_input import read_body
from tent.store.auth import AuthStore
from tent.store.changes import Changes

SKEW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class HawkContext:
    """What signing the response needs: the request's attributes and the key that signed it."""

    auth: RequestAuth
    credentials: Credentials


HAWK = web.RequestKey("hawk", HawkContext)


CACHE_SECONDS = 10.0  # a safety net only: every change empties the cache (tent.store.changes)
CACHE_SIZE = 10_000
USE_WRITE_SECONDS = 60.0
log = logging.getLogger(__name__)


class Authenticator:
    def __init__(self, settings: Settings, store: AuthStore, server: Credentials, changes: Changes) -> None:
        self.settings = settings
        self.store = store
        self.server = server
        self.changes = changes
        self.replays = ReplayGuard(store, 2 * SKEW_SECONDS, on_count=changes.catch_up)
        # Any change to a credentials, grant or app post (or any delete), in any process, may
        # revoke a key: every cached lookup is forgotten at once (tent.services.container).
        self._cache: dict[str, tuple[float, tuple[Credentials, Principal] | None]] = {}
        self._used: dict[str, float] = {}  # key id -> when its use may next be written
        self._uses: dict[str, int] = {}
        self._use_writer: asyncio.Task[None] | None = None

    def forget(self) -> None:
        self._cache.clear()

    async def lookup(self, key_id: str) -> tuple[Credentials, Principal] | None:
        if hmac.compare_digest(key_id.encode(), self.server.id.encode()):
            return self.server, OWNER
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        generation = self.changes.generation
        found = await self._load(key_id)
        # Peers' group memberships change with our group-member posts; their requests are
        # rare (deliveries, proxied reads), so only app principals are cached.
        if self.changes.may_keep(generation) and (found is None or found[1].kind != "peer"):
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key_id] = (time.monotonic() + CACHE_SECONDS, found)
        return found

    async def _load(self, key_id: str) -> tuple[Credentials, Principal] | None:
        record = await self.store.credentials(self.settings.entity, key_id)
        if record is None:
            return None
        content = record.credentials.get("content") or {}
        if not isinstance(content.get("hawk_key"), str):
            return None
        creds = Credentials(
            record.credentials["id"], content["hawk_key"], content.get("hawk_algorithm", "sha256")
        )
        principal = principal_for_credentials(record.target, record.app)
        if principal.kind == "peer" and principal.entity:
            groups = await self.store.peer_groups(self.settings.entity, principal.entity)
            principal = dataclasses.replace(principal, groups=groups)
        return creds, principal

    def _endpoints(self, request: web.Request) -> list[tuple[str, int]]:
        """Host/port pairs a client may have signed for: the entity's, then the Host header's
        (so a server reached as 127.0.0.1 while its entity says localhost still verifies)."""
        pairs = [(self.settings.public_host, self.settings.public_port)]
        host = (request.host or "").lower()
        if host:
            name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
            if not port.isdigit():
                name, port = host, str(self.settings.public_port)
            pair = (name, int(port))
            if pair not in pairs:
                pairs.append(pair)
        return pairs

    async def resolve(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization")
        raw = request.raw_path
        bewit = None
        if "bewit=" in raw:
            raw_without, bewit = strip_bewit(raw)
        if bewit is not None:
            if header:
                raise HawkError("Authentication failure: Multiple authentications")
            if request.method not in ("GET", "HEAD"):
                raise HawkError("Authentication failure: Bewit only allowed on GET and HEAD")
            # Signed with any credentials that authenticate a request (§4.9): the bearer acts
            # as that principal, for this one URL, until the bewit expires.
            key_id = bewit_key_id(bewit)
            await self.changes.catch_up_now()  # no nonce check reads the change count (D-99)
            found = await self.lookup(key_id) if key_id else None
            self._verify(
                request,
                lambda host, port: verify_bewit(
                    bewit,
                    lambda i: found[0] if found is not None and i == found[0].id else None,
                    uri_without_bewit=raw_without,
                    host=host,
                    port=port,
                    now=time.time(),
                ),
            )
            assert found is not None
            return found[1]
        if not header:
            return ANONYMOUS
        auth = parse_authorization(header)
        generation = self.changes.generation
        found = await self.lookup(auth.id)
        if found is None:
            raise HawkError("Authentication failure: Unidentified id")
        creds, principal = found
        content_type = request.headers.get("Content-Type")
        # A multipart body may be far larger than memory: its hash is checked as it streams.
        streamed = auth.hash is not None and streams_its_body(content_type)
        content = await read_body(request) if auth.hash is not None and not streamed else None
        self._verify(
            request,
            lambda host, port: verify_request(
                auth,
                creds,
                method=request.method,
                uri=raw,
                host=host,
                port=port,
                content=content,
                content_type=content_type,
                now=time.time(),
                skew=SKEW_SECONDS,
                hash_checked_later=streamed,
            ),
        )
        await self._first_use(auth)
        if self.changes.generation != generation:
            # A change committed somewhere since the lookup (the nonce check reads their
            # count, D-99): the credentials may be revoked or narrowed. Look again.
            again = await self.lookup(auth.id)
            if again is None or again[0] != creds:
                raise HawkError("Authentication failure: Unidentified id")
            principal = again[1]
        request[HAWK] = HawkContext(auth, creds)
        if streamed and auth.hash is not None:
            request[PAYLOAD_CHECK] = PayloadCheck(auth.hash, PayloadHash(content_type, creds.algorithm))
        self.note_use(auth.id, principal)
        return principal

    async def _first_use(self, auth: RequestAuth) -> None:
        """D-32 for every process on the database: a (credentials, nonce, ts) seen anywhere
        within the window of `2 * SKEW_SECONDS` is a replay. The shared table is the only
        record (D-84); concurrent checks share one statement (D-87)."""
        if not await self.replays.first_use(nonce_key(auth.id, auth.nonce, auth.ts)):
            raise HawkError("Authentication failure: Replayed nonce")

    async def forget_old_nonces(self) -> int:
        return await self.store.forget_nonces(int(time.time() * 1000))

    def note_use(self, key_id: str, principal: Principal) -> None:
        """Remember when an app's key was last used (the owner's Apps page), written in the
        background at most once a minute per key so the request never waits for it."""
        if principal.kind != "authorized_app":
            return
        now = time.monotonic()
        if self._used.get(key_id, 0.0) > now:
            return
        if len(self._used) >= CACHE_SIZE:
            self._used.clear()
        self._used[key_id] = now + USE_WRITE_SECONDS
        self._uses[key_id] = int(time.time() * 1000)
        if self._use_writer is None or self._use_writer.done():
            self._use_writer = asyncio.get_running_loop().create_task(self._write_uses())

    async def _write_uses(self) -> None:
        while self._uses:
            uses, self._uses = self._uses, {}
            try:
                await self.store.note_use(uses)
            except Exception:  # a lost "last used" time must never fail a request
                log.warning("could not record key use", exc_info=True)

    def _verify(self, request: web.Request, check: object) -> None:
        """Run `check(host, port)` for each acceptable endpoint; the first failure is reported."""
        first: HawkError | None = None
        for host, port in self._endpoints(request):
            try:
                check(host, port)  # type: ignore[operator]
                return
            except HawkError as exc:
                if exc.status == 401:
                    raise
                first = first or exc
        assert first is not None
        raise first
