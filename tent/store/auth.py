"""Credentials lookups, OAuth codes, owner sessions and authorization requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from tent.core.signin_backoff import FORGET_AFTER_MS, lock_ms
from tent.core.type_uris import APP_AUTH_BASE, APP_BASE, CREDENTIALS_BASE, GROUP_MEMBER_BASE
from tent.store.db import Database

# The credentials post, the post its first mention names (app, app-auth or relationship),
# and for an app-auth post the app post it authorizes: everything a request's principal
# depends on, in one round trip.
_CREDENTIALS = f"""
SELECT c.data AS credentials, t.data AS target, a.data AS app
FROM posts c
LEFT JOIN posts t ON t.entity = c.entity AND t.latest
     AND t.post_id = c.data->'mentions'->0->>'post'
LEFT JOIN posts a ON a.entity = t.entity AND a.latest AND t.type_base = '{APP_AUTH_BASE}'
     AND a.post_id = (SELECT m->>'post' FROM jsonb_array_elements(t.data->'mentions') m
                      WHERE m->>'type' LIKE '{APP_BASE}%' LIMIT 1)
WHERE c.entity = $1 AND c.post_id = $2 AND c.latest AND c.type_base = '{CREDENTIALS_BASE}'
"""


@dataclass(slots=True)
class CredentialsRecord:
    credentials: dict[str, Any]
    target: dict[str, Any] | None
    app: dict[str, Any] | None


@dataclass(slots=True)
class AuthRequest:
    stamp: int
    app_id: str
    request: dict[str, Any]
    result: str
    expire_at: int
    credentials_id: str | None
    turf_verified: bool | None = None
    turf_reason: str | None = None
    updated_at: int | None = None  # when the result last changed (the owner's decision)

    @classmethod
    def _from_row(cls, row: asyncpg.Record) -> AuthRequest:
        return cls(
            row["stamp"],
            row["app_id"],
            row["request"],
            row["result"],
            row["expire_at"],
            row["credentials_id"],
            row["turf_verified"],
            row["turf_reason"],
            row["updated_at"],
        )

    def as_json(self) -> dict[str, Any]:
        out = {"stamp": self.stamp, "request": self.request, "result": self.result}
        if self.turf_verified is not None:
            out["turf_verified"] = self.turf_verified
            if not self.turf_verified:
                out["turf_reason"] = self.turf_reason
        return out


_REQUEST_COLUMNS = (
    "stamp, app_id, request, result, expire_at, credentials_id, turf_verified, turf_reason, updated_at"
)


class AuthStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def credentials(self, entity: str, key_id: str) -> CredentialsRecord | None:
        """Only the newest version of a credentials post holds a valid key (D-31)."""
        row = await self.db.conn.fetchrow(_CREDENTIALS, entity, key_id)
        if row is None:
            return None
        return CredentialsRecord(row["credentials"], row["target"], row["app"])

    async def first_uses_of_nonces(self, keys: list[int], now: int, expires_at: int) -> tuple[set[int], int]:
        """Records nonces (their 64-bit keys, distinct) until `expires_at` and returns those
        no process recorded before, or whose record had expired (the others are replays), with
        the count of committed changes as of the statement (`Changes.catch_up`, D-99). One
        round trip for any number of keys. Sorted, so that two processes inserting the same
        keys lock them in one order and cannot deadlock."""
        row = await self.db.conn.fetchrow(
            "WITH fresh AS (INSERT INTO hawk_nonces (key, expires_at)"
            " SELECT k, $3 FROM unnest($1::bigint[]) AS k"
            " ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at"
            " WHERE hawk_nonces.expires_at <= $2 RETURNING key)"
            " SELECT ARRAY(SELECT key FROM fresh) AS fresh, (SELECT n FROM change_count) AS n",
            sorted(keys),
            now,
            expires_at,
        )
        assert row is not None
        return set(row["fresh"]), row["n"]

    async def forget_nonces(self, now: int) -> int:
        status = await self.db.conn.execute("DELETE FROM hawk_nonces WHERE expires_at <= $1", now)
        return int(status.rsplit(" ", 1)[-1])

    async def peer_groups(self, entity: str, peer: str) -> tuple[str, ...]:
        """Our groups the peer belongs to: our group-member posts naming it (D-11)."""
        rows = await self.db.conn.fetch(
            "SELECT DISTINCT m->>'post' AS group_id FROM posts p, jsonb_array_elements(p.data->'mentions') m"
            f" WHERE p.entity = $1 AND p.latest AND p.type_base = '{GROUP_MEMBER_BASE}'"
            " AND p.data->'content'->>'entity' = $2 AND m->>'post' IS NOT NULL",
            entity,
            peer,
        )
        return tuple(r["group_id"] for r in rows)

    # -- the owner's view of apps ---------------------------------------------------------

    async def grants(self, entity: str) -> list[dict[str, Any]]:
        """Every current grant (app-auth post) with the app it authorizes and when its key was
        last used, newest first: OAuth approvals and authorization requests alike."""
        rows = await self.db.conn.fetch(
            "SELECT g.data AS grant, a.data AS app, u.last_used_at FROM posts g"
            " LEFT JOIN posts a ON a.entity = g.entity AND a.latest AND a.post_id ="
            "  (SELECT m->>'post' FROM jsonb_array_elements(g.data->'mentions') m"
            f"   WHERE m->>'type' LIKE '{APP_BASE}%' LIMIT 1)"
            " LEFT JOIN LATERAL (SELECT max(cu.last_used_at) AS last_used_at FROM credential_use cu"
            "  WHERE cu.credentials_id IN (SELECT m->>'post' FROM jsonb_array_elements(g.data->'mentions') m"
            f"   WHERE m->>'type' LIKE '{CREDENTIALS_BASE}%')) u ON true"
            " WHERE g.entity = $1 AND g.latest AND g.type_base = $2 ORDER BY g.received_at DESC",
            entity,
            APP_AUTH_BASE,
        )
        return [{"grant": r["grant"], "app": r["app"], "last_used_at": r["last_used_at"]} for r in rows]

    async def note_use(self, uses: dict[str, int]) -> None:
        await self.db.conn.execute(
            "INSERT INTO credential_use (credentials_id, last_used_at)"
            " SELECT * FROM unnest($1::text[], $2::bigint[])"
            " ON CONFLICT (credentials_id) DO UPDATE SET last_used_at ="
            " greatest(credential_use.last_used_at, excluded.last_used_at)",
            list(uses),
            list(uses.values()),
        )

    # -- OAuth codes -------------------------------------------------------------------

    async def add_code(self, code: str, app_id: str, credentials_id: str, expires_at: int) -> None:
        await self.db.conn.execute(
            "INSERT INTO oauth_codes (code, app_id, credentials_id, expires_at) VALUES ($1, $2, $3, $4)",
            code,
            app_id,
            credentials_id,
            expires_at,
        )

    async def use_code(self, code: str, now: int) -> tuple[str, str] | None:
        """(app id, credentials id) for an unused, unexpired code, marking it used atomically."""
        row = await self.db.conn.fetchrow(
            "UPDATE oauth_codes SET used = true WHERE code = $1 AND NOT used AND expires_at > $2"
            " RETURNING app_id, credentials_id",
            code,
            now,
        )
        return (row["app_id"], row["credentials_id"]) if row else None

    async def code_app(self, code: str, now: int) -> str | None:
        return await self.db.conn.fetchval(
            "SELECT app_id FROM oauth_codes WHERE code = $1 AND NOT used AND expires_at > $2", code, now
        )

    # -- owner sign-in failures, per client address --------------------------------------

    async def signin_locked_until(self, address: str, now: int) -> int:
        """When this address may try again (0 or a past time: now)."""
        value = await self.db.conn.fetchval(
            "SELECT locked_until FROM signin_failures WHERE address = $1 AND last_at > $2",
            address,
            now - FORGET_AFTER_MS,
        )
        return value or 0

    async def signin_failed(self, address: str, now: int) -> tuple[int, int]:
        """Count a failure; returns (failures in a row, locked until)."""
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(
                "SELECT failures, last_at FROM signin_failures WHERE address = $1 FOR UPDATE", address
            )
            failures = 1 if row is None or row["last_at"] <= now - FORGET_AFTER_MS else row["failures"] + 1
            locked_until = now + lock_ms(failures)
            await conn.execute(
                "INSERT INTO signin_failures (address, failures, last_at, locked_until)"
                " VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (address) DO UPDATE SET failures = EXCLUDED.failures,"
                " last_at = EXCLUDED.last_at, locked_until = EXCLUDED.locked_until",
                address,
                failures,
                now,
                locked_until,
            )
            await conn.execute("DELETE FROM signin_failures WHERE last_at <= $1", now - FORGET_AFTER_MS)
        return failures, locked_until

    async def signin_succeeded(self, address: str) -> None:
        await self.db.conn.execute("DELETE FROM signin_failures WHERE address = $1", address)

    # -- owner sessions ----------------------------------------------------------------

    async def add_session(self, token_hash: str, csrf: str, expires_at: int) -> None:
        await self.db.conn.execute(
            "INSERT INTO owner_sessions (token_hash, csrf, expires_at) VALUES ($1, $2, $3)",
            token_hash,
            csrf,
            expires_at,
        )

    async def session_csrf(self, token_hash: str, now: int) -> str | None:
        return await self.db.conn.fetchval(
            "SELECT csrf FROM owner_sessions WHERE token_hash = $1 AND expires_at > $2", token_hash, now
        )

    async def end_session(self, token_hash: str, now: int) -> None:
        await self.db.conn.execute(
            "DELETE FROM owner_sessions WHERE token_hash = $1 OR expires_at <= $2", token_hash, now
        )

    # -- authorization requests --------------------------------------------------------

    async def _expire(self, now: int) -> None:
        await self.db.conn.execute(
            "UPDATE auth_requests SET result = 'expire', updated_at = $1"
            " WHERE result IN ('sent', 'got') AND expire_at <= $1",
            now,
        )

    async def add_request(
        self,
        app_id: str,
        request: dict[str, Any],
        expire_at: int,
        now_ns: int,
        *,
        turf_verified: bool | None = None,
        turf_reason: str | None = None,
    ) -> AuthRequest:
        """A new request; its stamp is now in nanoseconds, bumped past any existing stamp."""
        now = now_ns // 1_000_000
        result = "sent" if expire_at > now else "expire"
        row = await self.db.conn.fetchrow(
            f"INSERT INTO auth_requests ({_REQUEST_COLUMNS})"
            " VALUES (GREATEST($1, (SELECT COALESCE(max(stamp), 0) + 1 FROM auth_requests)),"
            " $2, $3, $4, $5, NULL, $7, $8, $6)"
            f" RETURNING {_REQUEST_COLUMNS}",
            now_ns,
            app_id,
            request,
            result,
            expire_at,
            now,
            turf_verified,
            turf_reason,
        )
        return AuthRequest._from_row(row)

    async def get_request(self, stamp: int, now: int) -> AuthRequest | None:
        async with self.db.transaction() as conn:
            await self._expire(now)
            row = await conn.fetchrow(f"SELECT {_REQUEST_COLUMNS} FROM auth_requests WHERE stamp = $1", stamp)
        return AuthRequest._from_row(row) if row else None

    async def list_requests(
        self, now: int, *, before: int | None, since: int | None, limit: int, app_id: str | None = None
    ) -> list[AuthRequest]:
        """Newest first; `before`/`since` are exclusive stamp bounds."""
        async with self.db.transaction() as conn:
            await self._expire(now)
            rows = await conn.fetch(
                f"SELECT {_REQUEST_COLUMNS} FROM auth_requests"
                " WHERE ($1::bigint IS NULL OR stamp < $1) AND ($2::bigint IS NULL OR stamp > $2)"
                " AND ($3::text IS NULL OR app_id = $3)"
                " ORDER BY stamp DESC LIMIT $4",
                before,
                since,
                app_id,
                limit,
            )
        return [AuthRequest._from_row(r) for r in rows]

    async def mark_got(self, stamps: list[int], now: int) -> None:
        await self.db.conn.execute(
            "UPDATE auth_requests SET result = 'got', updated_at = $2"
            " WHERE stamp = ANY($1::bigint[]) AND result = 'sent' AND expire_at > $2",
            stamps,
            now,
        )

    async def settle_request(
        self,
        stamp: int,
        result: str,
        now: int,
        *,
        from_states: tuple[str, ...] = ("sent", "got"),
        credentials_id: str | None = None,
    ) -> AuthRequest | None:
        """Move a pending request to a terminal state; None if it was not pending (or unknown)."""
        await self._expire(now)
        row = await self.db.conn.fetchrow(
            "UPDATE auth_requests SET result = $2, credentials_id = $3, updated_at = $4"
            " WHERE stamp = $1 AND result = ANY($5::text[]) AND expire_at > $4"
            f" RETURNING {_REQUEST_COLUMNS}",
            stamp,
            result,
            credentials_id,
            now,
            list(from_states),
        )
        return AuthRequest._from_row(row) if row else None
