"""`server_state`: small named values the server keeps about itself (its keys, the owner
app, the passphrase hash), read and written in the caller's unit of work."""

from __future__ import annotations

from typing import Any

from tent.store.db import Database


class ServerState:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> Any:
        return await self.db.conn.fetchval("SELECT value FROM server_state WHERE key = $1", key)

    async def get_for_update(self, key: str) -> Any:
        """The value, locked until the unit of work ends (read-modify-write)."""
        return await self.db.conn.fetchval("SELECT value FROM server_state WHERE key = $1 FOR UPDATE", key)

    async def set(self, key: str, value: Any) -> None:
        await self.db.conn.execute(
            "INSERT INTO server_state (key, value) VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            key,
            value,
        )

    async def set_if_absent(self, key: str, value: Any) -> Any:
        """Store `value` unless the key exists; return whichever value is now stored."""
        async with self.db.transaction():
            await self.db.conn.execute(
                "INSERT INTO server_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                key,
                value,
            )
            return await self.get(key)
