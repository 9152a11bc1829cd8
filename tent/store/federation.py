"""Relationships, subscriptions, the delivery outbox, and the lookups dispatch needs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from tent.core.type_uris import APP_AUTH_BASE, APP_BASE, CREDENTIALS_APP_TYPE, GROUP_MEMBER_BASE
from tent.store.changes import Change, Changes
from tent.store.db import Database

NOTIFY_CHANNEL = "tent_deliveries"


@dataclass(slots=True)
class Relationship:
    entity: str
    our_post_id: str | None
    our_credentials_id: str | None
    remote_credentials: dict[str, Any] | None
    remote_meta: dict[str, Any] | None
    active: bool

    @classmethod
    def _from_row(cls, row: asyncpg.Record) -> Relationship:
        return cls(
            row["entity"],
            row["our_post_id"],
            row["our_credentials_id"],
            row["remote_credentials"],
            row["remote_meta"],
            row["active"],
        )


@dataclass(slots=True)
class Delivery:
    id: int
    kind: str
    target: str
    post_entity: str
    post_id: str
    version_id: str
    mentioned: bool
    state: str
    attempts: int
    next_attempt_at: int
    created_at: int
    delivered_at: int | None
    last_error: str | None
    reported: bool
    # Another pending row of the same recipient waited behind this one when it was claimed:
    # only then can its success make a row claimable. True when not known (rows read otherwise).
    has_next: bool = True

    @classmethod
    def _from_row(cls, row: asyncpg.Record) -> Delivery:
        return cls(**{k: row[k] for k in _COLUMN_NAMES}, has_next=row.get("has_next", True))

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "version": self.version_id,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at if self.state == "pending" else None,
            "created_at": self.created_at,
            "delivered_at": self.delivered_at,
            "last_error": self.last_error,
        }


_DELIVERY_COLUMNS = (
    "id, kind, target, post_entity, post_id, version_id, mentioned, state, attempts, "
    "next_attempt_at, created_at, delivered_at, last_error, reported"
)
_COLUMN_NAMES = tuple(_DELIVERY_COLUMNS.split(", "))
# A claimed row's relationship (`r`), read in the same round trip (`_remember_relationships`).
_RELATIONSHIP_COLUMNS = (
    "r.entity AS r_entity, r.our_post_id, r.our_credentials_id, r.remote_credentials, r.remote_meta, r.active"
)


@dataclass(frozen=True, slots=True)
class Lease:
    """Rows a worker takes as they are written (`FederationStore.enqueue`): at most `limit`,
    leased until `until` (ms)."""

    worker: int
    until: int
    limit: int


RELATIONSHIP_CACHE_SECONDS = 5.0
WORKER_LOCK_CLASS = 0x7E47  # advisory lock (class, worker id) held by each live outbox worker


class FederationStore:
    def __init__(self, db: Database, changes: Changes | None = None) -> None:
        self.db = db
        self.changes = changes or Changes(db)
        # Active relationships, read for every delivery: kept briefly in memory, dropped on
        # every change any process announces (tent.store.changes; subscribed in tent.caches).
        self._relationships: dict[str, tuple[float, Relationship]] = {}

    def forget_relationships(self) -> None:
        self._relationships.clear()

    async def _write(self, change: Change, sql: str, *args: Any) -> str:
        """A write that cached lookups depend on, announced in its unit of work."""
        async with self.db.transaction() as conn:
            await self.changes.announce(change)
            return await conn.execute(sql, *args)

    # -- relationships -----------------------------------------------------------------

    async def relationship(self, entity: str) -> Relationship | None:
        """Outside a unit of work, from the cache when it can; inside one, always the row as
        the unit sees it (and never cached: it may not commit)."""
        cached = self._relationships.get(entity)
        if not self.db.in_transaction and cached is not None and cached[0] > time.monotonic():
            return cached[1]
        generation = self.changes.generation
        row = await self.db.conn.fetchrow("SELECT * FROM relationships WHERE entity = $1", entity)
        rel = Relationship._from_row(row) if row else None
        if rel is not None and rel.active and self.changes.may_keep(generation):
            if len(self._relationships) >= 10_000:
                self._relationships.clear()
            self._relationships[entity] = (time.monotonic() + RELATIONSHIP_CACHE_SECONDS, rel)
        return rel

    async def save_relationship(self, rel: Relationship, now: int) -> None:
        await self._write(
            Change.RELATIONSHIP,
            "INSERT INTO relationships (entity, our_post_id, our_credentials_id, remote_credentials,"
            " remote_meta, active, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (entity) DO UPDATE SET our_post_id = EXCLUDED.our_post_id,"
            " our_credentials_id = EXCLUDED.our_credentials_id,"
            " remote_credentials = EXCLUDED.remote_credentials, remote_meta = EXCLUDED.remote_meta,"
            " active = EXCLUDED.active, updated_at = EXCLUDED.updated_at",
            rel.entity,
            rel.our_post_id,
            rel.our_credentials_id,
            rel.remote_credentials,
            rel.remote_meta,
            rel.active,
            now,
        )

    async def set_remote_meta(self, entity: str, meta: dict[str, Any], now: int) -> None:
        await self._write(
            Change.RELATIONSHIP,
            "UPDATE relationships SET remote_meta = $2, updated_at = $3 WHERE entity = $1",
            entity,
            meta,
            now,
        )

    async def recipients_of(self, entity: str, post_id: str) -> list[str]:
        """Entities that were sent (or are being sent) some version of a post."""
        rows = await self.db.conn.fetch(
            "SELECT DISTINCT target FROM deliveries WHERE kind = 'entity' AND post_entity = $1"
            " AND post_id = $2 AND state <> 'failed'",
            entity,
            post_id,
        )
        return [r["target"] for r in rows]

    async def active_relationships(self) -> list[str]:
        rows = await self.db.conn.fetch("SELECT entity FROM relationships WHERE active")
        return [r["entity"] for r in rows]

    # -- subscriptions -----------------------------------------------------------------

    async def add_subscription(self, subscriber: str, selector: str, post_id: str) -> None:
        await self._write(
            Change.SUBSCRIPTION,
            "INSERT INTO subscriptions (subscriber, selector, post_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (subscriber, post_id) DO UPDATE SET selector = EXCLUDED.selector",
            subscriber,
            selector,
            post_id,
        )

    async def remove_subscription(self, subscriber: str, post_id: str) -> None:
        await self._write(
            Change.SUBSCRIPTION,
            "DELETE FROM subscriptions WHERE subscriber = $1 AND post_id = $2",
            subscriber,
            post_id,
        )

    async def subscribers(self) -> dict[str, list[str]]:
        rows = await self.db.conn.fetch(
            "SELECT s.subscriber, s.selector FROM subscriptions s"
            " JOIN relationships r ON r.entity = s.subscriber"
        )
        out: dict[str, list[str]] = {}
        for r in rows:
            out.setdefault(r["subscriber"], []).append(r["selector"])
        return out

    async def group_members(self, entity: str, group_ids: list[str]) -> dict[str, list[str]]:
        """Members of our groups (D-11): our group-member posts that mention the group post."""
        if not group_ids:
            return {}
        rows = await self.db.conn.fetch(
            "SELECT m->>'post' AS group_id, p.data->'content'->>'entity' AS member FROM posts p,"
            " jsonb_array_elements(p.data->'mentions') m"
            " WHERE p.entity = $1 AND p.latest AND p.type_base = $2 AND m->>'post' = ANY($3::text[])",
            entity,
            GROUP_MEMBER_BASE,
            group_ids,
        )
        out: dict[str, list[str]] = {}
        for r in rows:
            if r["member"]:
                out.setdefault(r["group_id"], []).append(r["member"])
        return out

    async def webhook_apps(self, entity: str) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Apps with a notification_url, each with its newest grant (app-auth post)."""
        rows = await self.db.conn.fetch(
            "SELECT a.data AS app, (SELECT g.data FROM posts g WHERE g.entity = a.entity AND g.latest"
            "   AND g.type_base = $3"
            "   AND g.data->'mentions' @> jsonb_build_array(jsonb_build_object('post', a.post_id))"
            "   ORDER BY g.received_at DESC LIMIT 1) AS grant"
            " FROM posts a WHERE a.entity = $1 AND a.latest AND a.type_base = $2"
            " AND a.data->'content' ? 'notification_url'",
            entity,
            APP_BASE,
            APP_AUTH_BASE,
        )
        return [(r["app"], r["grant"]) for r in rows]

    async def app_credentials(self, entity: str, app_id: str) -> dict[str, Any] | None:
        return await self.db.conn.fetchval(
            "SELECT data FROM posts WHERE entity = $1 AND latest AND type = $2"
            " AND data->'mentions' @> jsonb_build_array(jsonb_build_object('post', $3::text))"
            " ORDER BY received_at DESC LIMIT 1",
            entity,
            CREDENTIALS_APP_TYPE,
            app_id,
        )

    # -- the outbox --------------------------------------------------------------------

    async def enqueue(
        self, kind: str, targets: dict[str, bool], post: dict[str, Any], now: int, lease: Lease | None = None
    ) -> list[Delivery]:
        """Rows for one post version, in the caller's unit of work; NOTIFY wakes the workers
        when it commits.

        With a `lease`, up to `lease.limit` of the rows are written already claimed by its
        worker, as a claim would leave them, and returned: the process that stores a post
        starts sending it once it commits, without a claim query (D-96). Only recipients with
        no other pending row get one (a row behind another waits its turn, per-recipient
        FIFO). No NOTIFY when every row is leased: no other worker could claim any of them."""
        if not targets:
            return []
        conn = self.db.conn
        entity, post_id, version_id = post["entity"], post["id"], post["version"]["id"]
        values = (kind, list(targets), entity, post_id, version_id, now, list(targets.values()))
        if lease is None or lease.limit <= 0:
            await conn.execute(
                "INSERT INTO deliveries (kind, target, post_entity, post_id, version_id, mentioned,"
                " next_attempt_at, created_at)"
                " SELECT $1, t.target, $3, $4, $5, t.mentioned, $6, $6"
                " FROM unnest($2::text[], $7::bool[]) AS t(target, mentioned)"
                " ON CONFLICT (kind, target, post_entity, post_id, version_id) DO NOTHING",
                *values,
            )
            await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
            return []
        # Relationships cached for a while yet are not read again: their rows decoded are a
        # sixth of the statement's time at 1,000 peers.
        soon = time.monotonic() + 1.0
        cached = [t for t in targets if (hit := self._relationships.get(t)) is not None and hit[0] > soon]
        generation = self.changes.generation
        rows = await conn.fetch(
            "WITH new AS ("
            " INSERT INTO deliveries (kind, target, post_entity, post_id, version_id, mentioned,"
            " next_attempt_at, created_at, attempts, claimed_at, claimed_by)"
            " SELECT $1, t.target, $3, $4, $5, t.mentioned,"
            " CASE WHEN t.leased THEN $9::bigint ELSE $6::bigint END, $6, t.leased::int,"
            " CASE WHEN t.leased THEN $6 END, CASE WHEN t.leased THEN $8::bigint END"
            " FROM (SELECT u.target, u.mentioned, u.n <= $10 AND NOT EXISTS (SELECT 1 FROM deliveries q"
            "   WHERE q.state = 'pending' AND q.kind = $1 AND q.target = u.target) AS leased"
            "   FROM unnest($2::text[], $7::bool[]) WITH ORDINALITY AS u(target, mentioned, n)) AS t"
            " ON CONFLICT (kind, target, post_entity, post_id, version_id) DO NOTHING"
            " RETURNING id, target, mentioned, claimed_by)"
            f" SELECT new.id, new.target, new.mentioned, {_RELATIONSHIP_COLUMNS}"
            " FROM new LEFT JOIN relationships r ON $1 = 'entity' AND r.entity = new.target"
            " AND r.active AND new.target <> ALL ($11::text[]) WHERE new.claimed_by IS NOT NULL",
            *values,
            lease.worker,
            lease.until,
            lease.limit,
            cached,
        )
        if len(rows) < len(targets):
            await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
        self.db.on_commit(lambda: self._remember_relationships(rows, generation))
        leased = {  # as a claim leaves them; no row of theirs waits behind them (FIFO)
            "kind": kind,
            "post_entity": entity,
            "post_id": post_id,
            "version_id": version_id,
            "state": "pending",
            "attempts": 1,
            "next_attempt_at": lease.until,
            "created_at": now,
            "delivered_at": None,
            "last_error": None,
            "reported": False,
            "has_next": False,
        }
        return [Delivery(id=r["id"], target=r["target"], mentioned=r["mentioned"], **leased) for r in rows]

    async def claim(self, now: int, lease_ms: int, limit: int, worker: int) -> list[Delivery]:
        """Due rows, leased to `worker`. Each recipient gets its posts in the order they were
        made: only its oldest pending row (its head, found in one pass over the pending index)
        is ever claimable (per-recipient FIFO). The recipients' relationships come back in the
        same round trip and fill the relationship cache (a fan-out reaches many peers).

        The heads come from the statement's snapshot, so a row another process claimed in the
        meantime can still be listed. The UPDATE's conditions are checked again on the
        current version of such a row (PostgreSQL re-evaluates the WHERE of an UPDATE on a row
        updated since the snapshot), which then no longer qualifies: a row is never claimed
        twice. Twice the wanted number of heads are candidates, so rows another process holds
        are skipped without leaving this claim short.

        The heads reach the locking scan as an array of ids, looked up by primary key, not
        as a join (D-88): right after a fan-out inserts its rows the table's statistics still
        say it is nearly empty, and the planner joined the heads by a nested loop comparing
        every due row with every head (1,000,000 comparisons, 280 ms, for 1,000 peers). The
        locking scan is a materialized CTE so that it runs exactly once: as the inner side of
        a join it could run again for each row, each run skipping the rows the previous ones
        had just locked, and claim far more than `limit`. The UPDATE finds its rows the same
        way, by primary key only: its re-checked conditions are written so that no index
        serves them (`|| ''`, `+ 0`), else the planner, misled by the same statistics, scanned
        every due row against every locked one (120,000 comparisons, 21 of the first claim's
        24 ms, at 1,000 peers) (D-92).

        Each claimed row says whether another row of its recipient waits behind it
        (`has_next`, one probe of the queue index per row): only the success of such a row
        can make another claimable, so only then does the outbox claim again (D-94)."""
        generation = self.changes.generation
        rows = await self.db.conn.fetch(
            "WITH heads AS ("
            " SELECT DISTINCT ON (kind, target) id, next_attempt_at FROM deliveries"
            " WHERE state = 'pending' ORDER BY kind, target, id),"
            " locked AS MATERIALIZED ("
            " SELECT d.id FROM deliveries d"
            " WHERE d.id = ANY (ARRAY(SELECT id FROM heads WHERE next_attempt_at <= $1"
            "   ORDER BY next_attempt_at, id LIMIT 2 * $3))"
            " ORDER BY d.next_attempt_at, d.id LIMIT $3"
            " FOR UPDATE SKIP LOCKED),"
            " claimed AS ("
            " UPDATE deliveries SET next_attempt_at = $2, attempts = attempts + 1, claimed_at = $1,"
            " claimed_by = $4"
            " WHERE id = ANY (ARRAY(SELECT id FROM locked))"
            " AND state || '' = 'pending' AND next_attempt_at + 0 <= $1"
            f" RETURNING {_DELIVERY_COLUMNS})"
            f" SELECT c.*, {_RELATIONSHIP_COLUMNS},"
            " EXISTS (SELECT 1 FROM deliveries n WHERE n.state = 'pending' AND n.kind = c.kind"
            "   AND n.target = c.target AND n.id > c.id) AS has_next"
            " FROM claimed c LEFT JOIN relationships r ON c.kind = 'entity' AND r.entity = c.target"
            " AND r.active",
            now,
            now + lease_ms,
            limit,
            worker,
        )
        self._remember_relationships(rows, generation)
        return [Delivery._from_row(r) for r in rows]

    def _remember_relationships(self, rows: list[asyncpg.Record], generation: int) -> None:
        """The relationships that came back with claimed rows, for the sends about to start
        (once the unit of work that read them has committed)."""
        if not self.changes.may_keep(generation):
            return
        expires = time.monotonic() + RELATIONSHIP_CACHE_SECONDS
        for row in rows:
            if row["r_entity"] is not None:
                rel = Relationship(
                    row["r_entity"],
                    row["our_post_id"],
                    row["our_credentials_id"],
                    row["remote_credentials"],
                    row["remote_meta"],
                    row["active"],
                )
                self._relationships[rel.entity] = (expires, rel)

    async def register_worker(self, conn: asyncpg.Connection, worker: int) -> None:
        """Mark `worker` alive for as long as `conn` stays open (a session advisory lock: it
        goes away with the process, even after `kill -9`)."""
        await conn.execute("SELECT pg_advisory_lock($1, $2)", WORKER_LOCK_CLASS, worker)

    async def unregister_worker(self, conn: asyncpg.Connection, worker: int) -> None:
        await conn.execute("SELECT pg_advisory_unlock($1, $2)", WORKER_LOCK_CLASS, worker)

    async def release_leases(self, now: int) -> int:
        """At start: deliveries whose worker is gone (it stopped or was killed mid-send) are due
        again at once instead of after their lease. Leases of workers still running, in other
        processes on this database, are left alone: they are being sent right now."""
        status = await self.db.conn.execute(
            "UPDATE deliveries SET next_attempt_at = $1, claimed_at = NULL, claimed_by = NULL"
            " WHERE state = 'pending' AND claimed_at IS NOT NULL AND (claimed_by IS NULL"
            " OR claimed_by NOT IN (SELECT l.objid::bigint FROM pg_locks l"
            "   JOIN pg_database db ON db.oid = l.database AND db.datname = current_database()"
            "   WHERE l.locktype = 'advisory' AND l.classid = $2 AND l.objsubid = 2 AND l.granted))",
            now,
            WORKER_LOCK_CLASS,
        )
        return int(status.rsplit(" ", 1)[-1])

    async def next_due(self) -> int | None:
        """When time alone can next make a row claimable: the earliest due time of a head.
        A row queued behind its recipient's head waits for that head, however long ago it
        was due itself; counted, a peer that is down with several posts queued had the
        outbox claim every 10 ms, ~90 claims a second finding nothing (D-95)."""
        return await self.db.conn.fetchval(
            "SELECT min(next_attempt_at) FROM (SELECT DISTINCT ON (kind, target) next_attempt_at"
            " FROM deliveries WHERE state = 'pending' ORDER BY kind, target, id) AS heads"
        )

    async def delivered(self, delivery_ids: list[int], now: int) -> None:
        await self.db.conn.execute(
            "UPDATE deliveries SET state = 'delivered', delivered_at = $2, last_error = NULL,"
            " claimed_at = NULL WHERE id = ANY($1::bigint[])",
            delivery_ids,
            now,
        )

    async def retry_later(self, delivery_id: int, at: int, error: str, reported: bool) -> None:
        await self.db.conn.execute(
            "UPDATE deliveries SET next_attempt_at = $2, last_error = $3, reported = reported OR $4,"
            " claimed_at = NULL WHERE id = $1 AND state = 'pending'",  # not if cancelled meanwhile
            delivery_id,
            at,
            error,
            reported,
        )

    async def failed(self, delivery_id: int, error: str) -> None:
        await self.db.conn.execute(
            "UPDATE deliveries SET state = 'failed', last_error = $2, claimed_at = NULL"
            " WHERE id = $1 AND state = 'pending'",
            delivery_id,
            error,
        )

    async def pending_to(self, target: str) -> list[tuple[int, str, bool]]:
        """(delivery id, post type, mentioned) of every pending delivery to a remote entity."""
        rows = await self.db.conn.fetch(
            "SELECT d.id, p.type, d.mentioned FROM deliveries d"
            " JOIN posts p ON p.entity = d.post_entity AND p.post_id = d.post_id"
            " AND p.version_id = d.version_id"
            " WHERE d.kind = 'entity' AND d.target = $1 AND d.state = 'pending'",
            target,
        )
        return [(r["id"], r["type"], r["mentioned"]) for r in rows]

    async def selectors_of(self, subscriber: str) -> list[str]:
        rows = await self.db.conn.fetch(
            "SELECT selector FROM subscriptions WHERE subscriber = $1", subscriber
        )
        return [r["selector"] for r in rows]

    async def cancel(self, delivery_ids: list[int], reason: str) -> int:
        """Pending deliveries that no longer matter: never tried again, never reported."""
        result = await self.db.conn.execute(
            "UPDATE deliveries SET state = 'cancelled', last_error = $2, claimed_at = NULL"
            " WHERE id = ANY($1::bigint[]) AND state = 'pending'",
            delivery_ids,
            reason,
        )
        return int(result.split()[-1])

    async def give_up(self, delivery_id: int, error: str) -> Delivery | None:
        """A pending delivery no worker is sending right now becomes failed."""
        row = await self.db.conn.fetchrow(
            "UPDATE deliveries SET state = 'failed', last_error = $2"
            " WHERE id = $1 AND state = 'pending' AND claimed_at IS NULL"
            f" RETURNING {_DELIVERY_COLUMNS}",
            delivery_id,
            error,
        )
        return Delivery._from_row(row) if row else None

    async def for_post(self, entity: str, post_id: str) -> list[Delivery]:
        rows = await self.db.conn.fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE post_entity = $1 AND post_id = $2 ORDER BY id",
            entity,
            post_id,
        )
        return [Delivery._from_row(r) for r in rows]

    async def open_deliveries(self, limit: int = 200) -> list[Delivery]:
        """Pending and failed deliveries of every post, the most recent first."""
        rows = await self.db.conn.fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE state IN ('pending', 'failed')"
            " ORDER BY id DESC LIMIT $1",
            limit,
        )
        return [Delivery._from_row(r) for r in rows]

    async def retry_now(self, delivery_id: int, now: int) -> Delivery | None:
        row = await self.db.conn.fetchrow(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $2"
            " WHERE id = $1 AND state <> 'delivered' AND claimed_at IS NULL"
            f" RETURNING {_DELIVERY_COLUMNS}",
            delivery_id,
            now,
        )
        if row is not None:
            await self.db.conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
        return Delivery._from_row(row) if row else None

    async def reset_backoff(self, entity: str, now: int) -> None:
        """A peer that contacts us is up again: its deliveries waiting after a failure are due
        now (not the ones a worker is sending at this moment)."""
        status = await self.db.conn.execute(
            "UPDATE deliveries SET next_attempt_at = $2 WHERE kind = 'entity' AND target = $1"
            " AND state = 'pending' AND next_attempt_at > $2 AND last_error IS NOT NULL"
            " AND claimed_at IS NULL",
            entity,
            now,
        )
        if not status.endswith(" 0"):
            await self.db.conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
