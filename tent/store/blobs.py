"""Attachment bytes in PostgreSQL, content-addressed and chunked so nothing is held whole
in memory: uploads are hashed and written chunk by chunk, downloads read chunk by chunk."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from tent.core.principal import Visibility
from tent.store.pool import Pool
from tent.store.posts import Args, row_visible

CHUNK = 256 * 1024
_READ_BATCH = 8  # chunks per query when streaming out (2 MiB)


class TooLarge(Exception):
    pass


@dataclass(slots=True)
class Upload:
    digest: str
    size: int
    key: str | None = None  # while staged: the chunks' temporary name
    created_at: int = 0


@dataclass(slots=True)
class Carrier:
    """A post version carrying a digest, and that attachment's metadata in it."""

    post: dict[str, Any]
    attachment: dict[str, Any]
    size: int


class BlobStore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def upload(self, stream: AsyncIterator[bytes], max_size: int, now: int) -> Upload:
        """Store a stream; the bytes end up once under their digest however often uploaded."""
        staged = await self.stage(stream, max_size, now)
        await self.commit([staged])
        return staged

    async def stage(self, stream: AsyncIterator[bytes], max_size: int, now: int) -> Upload:
        """Write a stream's chunks under a temporary name and hash them; nothing refers to them
        until `commit` (a request whose payload hash fails at the end must leave no blob).
        Chunks of a stage never committed are deleted by `discard`, or swept at start."""
        key = f"upload:{now}:{secrets.token_hex(8)}"
        hasher = hashlib.sha512()
        size, seq = 0, 0
        buffer = bytearray()
        try:
            async for piece in stream:
                size += len(piece)
                if size > max_size:
                    raise TooLarge()
                hasher.update(piece)
                buffer += piece
                while len(buffer) >= CHUNK:
                    await self._write(key, seq, bytes(buffer[:CHUNK]))
                    del buffer[:CHUNK]
                    seq += 1
            if buffer or seq == 0:
                await self._write(key, seq, bytes(buffer))
        except BaseException:
            await self.pool.execute("DELETE FROM blob_chunks WHERE blob = $1", key)
            raise
        return Upload(hasher.hexdigest()[:64], size, key, now)

    async def commit(self, uploads: list[Upload]) -> None:
        """File staged chunks under their digests in one transaction (bytes already stored
        under a digest are kept once: the new copy is dropped)."""
        staged = [u for u in uploads if u.key is not None]
        if not staged:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            for upload in staged:
                created = await conn.fetchval(
                    "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (digest) DO NOTHING RETURNING digest",
                    upload.digest,
                    upload.size,
                    upload.created_at,
                )
                if created:
                    await conn.execute(
                        "UPDATE blob_chunks SET blob = $1 WHERE blob = $2", upload.digest, upload.key
                    )
                else:
                    await conn.execute("DELETE FROM blob_chunks WHERE blob = $1", upload.key)
        for upload in staged:
            upload.key = None

    async def discard(self, uploads: list[Upload]) -> None:
        keys = [u.key for u in uploads if u.key is not None]
        if keys:
            await self.pool.execute("DELETE FROM blob_chunks WHERE blob = ANY($1::text[])", keys)

    async def _write(self, key: str, seq: int, data: bytes) -> None:
        await self.pool.execute(
            "INSERT INTO blob_chunks (blob, seq, data) VALUES ($1, $2, $3)", key, seq, data
        )

    async def sizes(self, digests: list[str]) -> dict[str, int]:
        rows = await self.pool.fetch("SELECT digest, size FROM blobs WHERE digest = ANY($1::text[])", digests)
        return {r["digest"]: r["size"] for r in rows}

    async def read(self, digest: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end inclusive, a few chunks per query."""
        first, last = start // CHUNK, end // CHUNK
        seq = first
        while seq <= last:
            upto = min(last, seq + _READ_BATCH - 1)
            rows = await self.pool.fetch(
                "SELECT seq, data FROM blob_chunks WHERE blob = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
                digest,
                seq,
                upto,
            )
            for row in rows:
                data = row["data"]
                lo = start - row["seq"] * CHUNK if row["seq"] == first else 0
                hi = end - row["seq"] * CHUNK + 1 if row["seq"] == last else len(data)
                yield data[lo:hi]
            seq = upto + 1

    async def carrier(
        self, entity: str, digest: str, vis: Visibility, *, name: str | None = None
    ) -> Carrier | None:
        """The newest post version of `entity` the reader may see that carries `digest`."""
        arg = Args(entity, digest)
        conds = ["p.entity = $1", "a.digest = $2"]
        visible = row_visible(vis, arg)
        if visible:
            conds.append(visible)
        row = await self.pool.fetchrow(
            "SELECT p.data, b.size FROM post_attachments a JOIN posts p ON p.seq = a.post_seq"
            " JOIN blobs b ON b.digest = a.digest"
            f" WHERE {' AND '.join(conds)}"
            " ORDER BY p.version_received_at DESC LIMIT 1",
            *arg.values,
        )
        if row is None:
            return None
        post = row["data"]
        attachment = next(a for a in post.get("attachments") or [] if a.get("digest") == digest)
        return Carrier(post, attachment, row["size"])

    async def readable_digests(self, digests: list[str], vis: Visibility) -> set[str]:
        """Which of these digests the reader may see on some post version (for copying)."""
        arg = Args(digests)
        conds = ["a.digest = ANY($1::text[])"]
        visible = row_visible(vis, arg)
        if visible:
            conds.append(visible)
        rows = await self.pool.fetch(
            "SELECT DISTINCT a.digest FROM post_attachments a JOIN posts p ON p.seq = a.post_seq"
            f" WHERE {' AND '.join(conds)}",
            *arg.values,
        )
        return {r["digest"] for r in rows}

    async def forget_stale_uploads(self, older_than: int) -> None:
        """Chunks of uploads that never finished (a crash mid-upload)."""
        rows = await self.pool.fetch("SELECT DISTINCT blob FROM blob_chunks WHERE blob LIKE 'upload:%'")
        stale = [r["blob"] for r in rows if int(r["blob"].split(":")[1]) < older_than]
        if stale:
            await self.pool.execute("DELETE FROM blob_chunks WHERE blob = ANY($1::text[])", stale)
