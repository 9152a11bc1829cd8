"""Readiness: whether this process can do its work now. Liveness needs no code (answering
at all is the proof); readiness asks the database one small question with a short deadline,
so a probe never queues behind a database that hangs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tent.store import db
from tent.store.pool import Pool

TIMEOUT = 2.0
OK = "ok"


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: dict[str, str]  # "ok", or what is wrong, in words

    @property
    def ready(self) -> bool:
        return all(v == OK for v in self.checks.values())


async def readiness(pool: Pool, outbox_alive: bool, timeout: float = TIMEOUT) -> Readiness:
    checks = {"database": OK, "migrations": OK, "outbox": OK}
    try:
        async with asyncio.timeout(timeout):
            async with pool.acquire() as conn:
                applied = await db.applied_migrations(conn)
    except TimeoutError:
        checks["database"] = f"no answer in {timeout:g} s"
        checks["migrations"] = "unknown"
    except db.UNAVAILABLE as exc:
        checks["database"] = str(exc) or type(exc).__name__
        checks["migrations"] = "unknown"
    else:
        missing = sorted(db.shipped_migrations() - applied)
        if missing:
            checks["migrations"] = "not applied: " + ", ".join(f"{n:03d}" for n in missing)
    if not outbox_alive:
        checks["outbox"] = "the delivery worker is not running or not listening"
    return Readiness(checks)
