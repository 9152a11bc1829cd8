"""The SQL behind `tent export` and `tent import`: every table, read from one snapshot through
server-side cursors, and written back in one transaction.

Which tables travel, and how:
- `posts`: one record per version (its stored JSON plus the row's `seq` and `latest` flags);
  the other columns are derived from the JSON, as when a post is first stored.
- `blobs` and `blob_chunks`: one record per attachment, then its chunks in order. Chunks of
  uploads still in progress (`upload:` keys) are not exported.
- the tables in `ROW_TABLES`: row by row, every column, so a column added by a later migration
  travels without a change here.
- `DERIVED_TABLES` are rebuilt from each post version by the same insert that stores it.
- `schema_migrations` belongs to the target database, migrated by its own server.
- `hawk_nonces` holds the last two minutes of request nonces: stale by the time a backup is
  restored, since a request older than the skew window is refused anyway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from tent.store.posts import RESTORE_VERSION, restore_args

# table -> (record kind, ORDER BY): exported row by row with all their columns.
ROW_TABLES: dict[str, tuple[str, str]] = {
    "server_state": ("state", "key"),
    "relationships": ("relationship", "entity"),
    "subscriptions": ("subscription", "subscriber, post_id"),
    "deliveries": ("delivery", "id"),
    "auth_requests": ("auth_request", "stamp"),
    "oauth_codes": ("oauth_code", "code"),
    "owner_sessions": ("owner_session", "token_hash"),
    "credential_use": ("credential_use", "credentials_id"),
}
POST_COLUMNS = {"seq", "latest", "latest_public", "data"}
POST_DERIVED_COLUMNS = {
    "entity",
    "post_id",
    "version_id",
    "type",
    "type_base",
    "type_fragment",
    "published_at",
    "received_at",
    "version_published_at",
    "version_received_at",
    "public",
}
DERIVED_TABLES = {"mentions", "parents", "post_attachments"}
SPECIAL_TABLES = {"posts", "blobs", "blob_chunks"}
# Replay nonces and failed sign-in counts are short-lived protection of one server, not data;
# the change count only orders cache drops among the processes on one database (D-99).
NOT_EXPORTED = {"schema_migrations", "hawk_nonces", "signin_failures", "change_count"}
_SEQUENCES = (("posts", "seq"), ("deliveries", "id"))
_POST_BATCH = 200
_WRITE_BATCH = 500  # rows per executemany when importing
# What a refused row raises: server errors, and the client's own encoding errors
# (asyncpg.DataError is an InterfaceError and a ValueError) for a value of the wrong type.
_REFUSALS = (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError, TypeError)
_CHUNK_BATCH = 4  # 256 KiB chunks per cursor fetch: 1 MiB in memory at most


@dataclass(slots=True)
class PostRow:
    seq: int
    latest: bool
    latest_public: bool
    post: dict[str, Any]


@dataclass(slots=True)
class BlobStart:
    digest: str
    size: int
    created_at: int


@dataclass(slots=True)
class BlobChunk:
    digest: str
    seq: int
    data: bytes


async def tables(conn: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """Every table of the schema with its columns and their types."""
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    )
    found: dict[str, dict[str, str]] = {}
    for r in rows:
        found.setdefault(r["table_name"], {})[r["column_name"]] = r["data_type"]
    return found


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Snapshot:
    """Reads the whole server inside the caller's REPEATABLE READ transaction, so a running
    server may keep writing while an export is consistent."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def rows(self, table: str) -> AsyncIterator[dict[str, Any]]:
        _, order = ROW_TABLES[table]
        async for row in self.conn.cursor(f"SELECT * FROM {_ident(table)} ORDER BY {order}"):
            yield dict(row)

    async def posts(self) -> AsyncIterator[PostRow]:
        query = "SELECT seq, latest, latest_public, data FROM posts ORDER BY seq"
        async for r in self.conn.cursor(query, prefetch=_POST_BATCH):
            yield PostRow(r["seq"], r["latest"], r["latest_public"], r["data"])

    async def blobs(self) -> AsyncIterator[BlobStart | BlobChunk]:
        query = (
            "SELECT b.digest, b.size, b.created_at, c.seq, c.data FROM blobs b"
            " LEFT JOIN blob_chunks c ON c.blob = b.digest ORDER BY b.digest, c.seq"
        )
        current = None
        async for r in self.conn.cursor(query, prefetch=_CHUNK_BATCH):
            if r["digest"] != current:
                current = r["digest"]
                yield BlobStart(r["digest"], r["size"], r["created_at"])
            if r["seq"] is not None:
                yield BlobChunk(r["digest"], r["seq"], r["data"])


class RowRefused(Exception):
    """PostgreSQL refused the row read from line `line` of the file."""

    def __init__(self, line: int, error: Exception) -> None:
        super().__init__(str(error))
        self.line = line


class Loader:
    """Writes records into the caller's transaction, refusing unknown tables and columns.

    Rows are sent in batches (one pipelined executemany each); when PostgreSQL refuses a
    batch, it is rolled back to its savepoint and replayed row by row, so the error still
    names the line it came from."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._columns: dict[str, dict[str, str]] = {}
        self._inserts: dict[tuple[str, tuple[str, ...]], str] = {}
        self._pending: dict[str, tuple[list[list[Any]], list[int]]] = {}

    async def _add(self, sql: str, args: list[Any], line: int) -> None:
        rows, lines = self._pending.setdefault(sql, ([], []))
        rows.append(args)
        lines.append(line)
        if len(rows) >= _WRITE_BATCH:
            await self._flush(sql)

    async def _flush(self, sql: str) -> None:
        rows, lines = self._pending.pop(sql, ([], []))
        if not rows:
            return
        try:
            async with self.conn.transaction():
                await self.conn.executemany(sql, rows)
            return
        except _REFUSALS as exc:
            first_error: Exception = exc
        for args, line in zip(rows, lines, strict=True):
            try:
                async with self.conn.transaction():
                    await self.conn.execute(sql, *args)
            except _REFUSALS as exc:
                raise RowRefused(line, exc) from None
        raise RowRefused(lines[0], first_error)

    async def flush(self) -> None:
        for sql in list(self._pending):
            await self._flush(sql)

    async def lock_empty(self) -> list[str]:
        """Lock out other writers for the transaction; the tables that already hold rows."""
        self._columns = await tables(self.conn)
        names = sorted(set(ROW_TABLES) | SPECIAL_TABLES)
        await self.conn.execute(
            "LOCK TABLE " + ", ".join(_ident(n) for n in names) + " IN SHARE ROW EXCLUSIVE MODE"
        )
        busy = []
        for name in names:
            if await self.conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_ident(name)})"):
                busy.append(name)
        return busy

    async def post(self, row: PostRow, line: int) -> None:
        args = restore_args(row.post, seq=row.seq, latest=row.latest, latest_public=row.latest_public)
        await self._add(RESTORE_VERSION, args, line)

    async def blob(self, start: BlobStart) -> bool:
        return (
            await self.conn.fetchval(
                "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (digest) DO NOTHING RETURNING true",
                start.digest,
                start.size,
                start.created_at,
            )
            is not None
        )

    async def chunk(self, chunk: BlobChunk) -> None:
        await self.conn.execute(
            "INSERT INTO blob_chunks (blob, seq, data) VALUES ($1, $2, $3)",
            chunk.digest,
            chunk.seq,
            chunk.data,
        )

    def columns_of(self, table: str) -> dict[str, str]:
        return self._columns.get(table, {})

    async def row(self, table: str, row: dict[str, Any], line: int) -> None:
        known = self.columns_of(table)
        unknown = [c for c in row if c not in known]
        if unknown:
            raise ValueError(f"{table} has no column {', '.join(unknown)}")
        cols = tuple(row)
        sql = self._inserts.get((table, cols))
        if sql is None:
            sql = (
                f"INSERT INTO {_ident(table)} ({', '.join(_ident(c) for c in cols)})"
                f" VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})"
            )
            self._inserts[(table, cols)] = sql
        await self._add(sql, list(row.values()), line)

    async def finish(self) -> None:
        """Send what is still batched; serial columns continue after the imported ids."""
        await self.flush()
        for table, column in _SEQUENCES:
            await self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" COALESCE((SELECT max({column}) FROM {table}), 0) + 1, false)"
            )
