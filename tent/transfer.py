"""The export file: the whole server as JSON Lines, the unit of backup and of moving house.

Line 1 is the header `{"format": "tent-export", "version": 1, "entity", "exported_at"}`; then
one `{"kind": ...}` record per line; the last line is `{"kind": "end", "counts": {...}}`, so
a file cut short at a line boundary is still noticed. Kinds:

- `post`: one per stored version, ours and received (with their `received_at` times), plus
  the row's `seq` and `latest` flags;
- `attachment` (digest, size), followed by its `attachment_chunk` records (base64, in order);
- row records `{"kind", "row": {column: value}}`: `state` (server_state: the meta post id,
  the owner app, the server's Hawk secret, its Ed25519 signing keys, the owner passphrase
  hash), `relationship`, `subscription`, `delivery` (every state, so pending ones resume),
  `auth_request`, `oauth_code`, `owner_session`.

A `post` record whose stored version id is not what the canonical JSON rules give (a received
post another server hashed differently; we keep the sender's id, D-42) carries the computed
id as `canonical_version_id` (null when the post cannot be hashed), so every version is still
checked against its content on import.

An import runs in one transaction into an empty database: a corrupt record (bad JSON, a
version id or digest that does not match, a missing end) rolls everything back and names
its line.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import asyncpg
import orjson

from tent import canonical
from tent.core.posts import now_ms
from tent.core.types import parse_type
from tent.store.pool import Pool
from tent.store.transfer import ROW_TABLES, BlobChunk, BlobStart, Loader, PostRow, RowRefused, Snapshot

FORMAT = "tent-export"
VERSION = 1
_KIND_TABLES = {kind: table for table, (kind, _) in ROW_TABLES.items()}
_DIGEST = re.compile(r"[0-9a-f]{64}")


class ImportFailed(Exception):
    """The file cannot be imported; nothing was written."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


def _canonical_or_none(post: dict[str, Any]) -> str | None:
    try:
        return canonical.version_id(post)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def post_record(row: PostRow) -> dict[str, Any]:
    record: dict[str, Any] = {
        "kind": "post", "seq": row.seq, "latest": row.latest, "latest_public": row.latest_public,
        "post": row.post,
    }
    computed = _canonical_or_none(row.post)
    if computed != row.post["version"]["id"]:
        record["canonical_version_id"] = computed
    return record


async def records(conn: asyncpg.Connection, entity: str) -> AsyncIterator[dict[str, Any]]:
    """Every line of the export, header first and end last, read from the caller's snapshot."""
    snapshot = Snapshot(conn)
    counts: dict[str, int] = {}

    def counted(record: dict[str, Any]) -> dict[str, Any]:
        counts[record["kind"]] = counts.get(record["kind"], 0) + 1
        return record

    yield {"format": FORMAT, "version": VERSION, "entity": entity, "exported_at": now_ms()}
    async for row in snapshot.rows("server_state"):
        yield counted({"kind": "state", "row": row})
    async for post in snapshot.posts():
        yield counted(post_record(post))
    async for item in snapshot.blobs():
        if isinstance(item, BlobStart):
            yield counted({"kind": "attachment", "digest": item.digest, "size": item.size,
                           "created_at": item.created_at})
        else:
            yield counted({"kind": "attachment_chunk", "digest": item.digest, "seq": item.seq,
                           "data": base64.b64encode(item.data).decode()})
    for table, (kind, _) in ROW_TABLES.items():
        if table == "server_state":
            continue
        async for row in snapshot.rows(table):
            yield counted({"kind": kind, "row": row})
    yield {"kind": "end", "counts": counts}


def dump(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


@dataclass
class _Attachment:
    digest: str
    size: int
    line: int
    next_seq: int = 0
    received: int = 0
    hasher: Any = field(default_factory=hashlib.sha512)


class Importer:
    """Checks and writes records one line at a time, inside the caller's transaction."""

    def __init__(self, conn: asyncpg.Connection, entity: str) -> None:
        self.loader = Loader(conn)
        self.entity = entity
        self.counts: dict[str, int] = {}
        self.ended: dict[str, Any] | None = None
        self._attachment: _Attachment | None = None

    async def run(
        self, lines: Iterable[bytes], progress: Callable[[int], None] | None = None
    ) -> dict[str, int]:
        busy = await self.loader.lock_empty()
        if busy:
            raise ImportFailed(
                "the database is not empty (it has rows in " + ", ".join(busy) + "); import into a new,"
                " empty database (a new TENT_DATA_DIR, or a new PostgreSQL database in TENT_DATABASE_URL)"
            )
        number = 0
        for number, line in enumerate(lines, 1):
            record = self._parse(line, number)
            if number == 1:
                self._header(record)
                continue
            if self.ended is not None:
                raise ImportFailed("records after the end record", number)
            try:
                await self._record(record, number)
            except ImportFailed:
                raise
            except RowRefused as exc:
                raise ImportFailed(f"record refused by the database: {exc}", exc.line) from None
            except (asyncpg.PostgresError, ValueError, TypeError, KeyError, AttributeError) as exc:
                raise ImportFailed(f"{record.get('kind')} record refused: {exc}", number) from None
            if progress is not None and number % 1000 == 0:
                progress(number)
        if number == 0:
            raise ImportFailed("the file is empty")
        if self.ended is None:
            raise ImportFailed("the file ends without its end record (it was cut short)", number + 1)
        try:
            await self.loader.finish()
        except RowRefused as exc:
            raise ImportFailed(f"record refused by the database: {exc}", exc.line) from None
        return self.counts

    @staticmethod
    def _parse(line: bytes, number: int) -> dict[str, Any]:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ImportFailed("not a JSON object (a truncated or damaged line)", number) from None
        if not isinstance(record, dict):
            raise ImportFailed("not a JSON object", number)
        return record

    def _header(self, record: dict[str, Any]) -> None:
        if record.get("format") != FORMAT:
            raise ImportFailed(f"not a {FORMAT} file (no header)", 1)
        if record.get("version") != VERSION:
            raise ImportFailed(f"export format version {record.get('version')!r} is not supported", 1)
        if record.get("entity") != self.entity:
            raise ImportFailed(
                f"the export is of {record.get('entity')}, but this server's TENT_ENTITY is {self.entity};"
                " import with the entity the posts were made for",
                1,
            )

    async def _record(self, record: dict[str, Any], number: int) -> None:
        kind = record.pop("kind", None)
        if kind != "attachment_chunk":
            self._close_attachment(number)
        if kind == "end":
            await self.loader.flush()  # a refused row names its own line, before the counts
            self._end(record, number)
            return
        if kind == "post":
            await self._post(record, number)
        elif kind == "attachment":
            await self._start_attachment(record, number)
        elif kind == "attachment_chunk":
            await self._chunk(record, number)
        elif kind in _KIND_TABLES:
            row = record.get("row")
            if not isinstance(row, dict) or not row:
                raise ImportFailed(f"{kind} record without a row", number)
            await self.loader.row(_KIND_TABLES[kind], row, number)
        else:
            raise ImportFailed(f"unknown record kind {kind!r}", number)
        self.counts[kind] = self.counts.get(kind, 0) + 1

    async def _post(self, record: dict[str, Any], number: int) -> None:
        post = record.get("post")
        if not isinstance(post, dict) or not isinstance(post.get("version"), dict):
            raise ImportFailed("post record without a post", number)
        if not isinstance(post.get("type"), str) or parse_type(post["type"]) is None:
            raise ImportFailed("post has no valid type", number)
        stored = post["version"].get("id")
        expected = record.get("canonical_version_id", stored)
        computed = _canonical_or_none(post)
        if computed != expected:
            raise ImportFailed(
                f"version id of post {post.get('id')} does not match its canonical JSON"
                f" (expected {expected}, computed {computed})",
                number,
            )
        row = PostRow(record["seq"], record["latest"], record["latest_public"], post)
        await self.loader.post(row, number)

    async def _start_attachment(self, record: dict[str, Any], number: int) -> None:
        digest, size = record.get("digest"), record.get("size")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise ImportFailed("attachment without a valid digest", number)
        if not isinstance(size, int) or size < 0:
            raise ImportFailed("attachment without a valid size", number)
        if not await self.loader.blob(BlobStart(digest, size, record["created_at"])):
            raise ImportFailed(f"attachment {digest} appears twice", number)
        self._attachment = _Attachment(digest, size, number)

    async def _chunk(self, record: dict[str, Any], number: int) -> None:
        current = self._attachment
        if current is None or record.get("digest") != current.digest:
            raise ImportFailed("attachment chunk outside its attachment", number)
        if record.get("seq") != current.next_seq:
            raise ImportFailed(f"attachment {current.digest}: chunk {record.get('seq')} out of order", number)
        try:
            data = base64.b64decode(record["data"], validate=True)
        except (binascii.Error, TypeError, KeyError):
            raise ImportFailed(f"attachment {current.digest}: chunk is not base64", number) from None
        current.received += len(data)
        if current.received > current.size:
            raise ImportFailed(f"attachment {current.digest}: more bytes than its size", number)
        current.hasher.update(data)
        current.next_seq += 1
        await self.loader.chunk(BlobChunk(current.digest, record["seq"], data))

    def _close_attachment(self, number: int) -> None:
        current, self._attachment = self._attachment, None
        if current is None:
            return
        if current.received != current.size or current.next_seq == 0:
            raise ImportFailed(
                f"attachment {current.digest} has {current.received} of its {current.size} bytes",
                current.line,
            )
        if current.hasher.hexdigest()[:64] != current.digest:
            raise ImportFailed(
                f"attachment {current.digest}: its bytes (lines {current.line + 1}-{number - 1})"
                " do not hash to its digest",
                current.line,
            )

    def _end(self, record: dict[str, Any], number: int) -> None:
        if record.get("counts") != self.counts:
            raise ImportFailed(
                f"the file lists {record.get('counts')} but holds {self.counts} (records are missing)", number
            )
        self.ended = record


async def export(
    pool: Pool,
    entity: str,
    write: Callable[[bytes], Any],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write the export through `write`, from one consistent snapshot (the server may run)."""
    lines = written = 0
    end: dict[str, Any] = {}
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        async for record in records(conn, entity):
            data = dump(record)
            write(data)
            lines, written = lines + 1, written + len(data)
            if progress is not None and lines % 500 == 0:
                progress(lines, written)
            if record.get("kind") == "end":
                end = record["counts"]
    if progress is not None:
        progress(lines, written)
    return end


async def load(
    pool: Pool, entity: str, lines: Iterable[bytes], progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Import a file into an empty database, all or nothing."""
    async with pool.acquire() as conn, conn.transaction():
        return await Importer(conn, entity).run(lines, progress)


@contextlib.contextmanager
def private_output(path: str | None) -> Iterator[BinaryIO]:
    """Standard output, or a file only its owner may read (the export holds secrets), written
    beside the target and renamed into place when complete, so a failed export leaves no
    file that looks whole."""
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = f"{path}.partial"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(partial)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
