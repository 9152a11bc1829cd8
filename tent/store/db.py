"""Connection pool, numbered migrations, and the embedded PostgreSQL default."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import subprocess
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from tent.store.pool import Pool

log = logging.getLogger(__name__)

# What a call to a database that is down, restarting or unreachable raises: callers that
# must outlive an outage (the outbox worker, the sweepers, readiness) catch these. A pooled
# connection whose backend was just terminated can also fail with InternalClientError
# ("cannot switch to state …") before the pool notices it is dead.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
CLOSE_TIMEOUT = 5.0

_MIGRATION_RE = re.compile(r"^(\d+)_[\w-]+\.sql$")
_MIGRATION_LOCK = 0x7E47_0001  # advisory lock key: one migrator at a time


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def create_pool(dsn: str, size: int = 10) -> Pool:
    return await Pool(dsn, size, init=_init_connection, command_timeout=30, idle_lifetime=300.0).start()


async def close_pool(pool: Pool, timeout: float = CLOSE_TIMEOUT) -> None:
    """Close gracefully, but never wait longer than `timeout`: with the database gone a
    graceful close can wait on connections that will never answer, and a stopping server
    must stop."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except (TimeoutError, *UNAVAILABLE) as exc:
        log.warning("database pool did not close cleanly (%s); dropping its connections", type(exc).__name__)
        pool.terminate()


async def listening_connection(
    pool: Pool,
    channel: str,
    notified: Callable[..., None],
    lost: Callable[[asyncpg.Connection], None],
    setup: Callable[[asyncpg.Connection], Awaitable[object]] | None = None,
) -> asyncpg.Connection:
    """A pooled connection kept for LISTEN: `lost` is called if it dies (the owner then
    releases it with `discard=True` and asks for another). A connection that fails while
    being set up may be half dead, so it is discarded at once (the pool opens a fresh one),
    never kept: a connection taken and not released makes a pool close wait forever."""
    conn = await pool.acquire()
    try:
        if setup is not None:
            await setup(conn)
        await conn.add_listener(channel, notified)
    except BaseException:
        await pool.release(conn, discard=True)
        raise
    conn.add_termination_listener(lost)
    return conn


# What a store runs its SQL on: the unit of work's connection, or the pool outside one.
Executor = asyncpg.Connection | Pool


@dataclass(slots=True)
class _Unit:
    conn: asyncpg.Connection
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    after_rollback: list[Callable[[], None]] = field(default_factory=list)


class Database:
    """The pool and the unit of work (D-77).

    `transaction()` keeps its connection in a ContextVar, so every store called inside it, at
    any depth, joins the same transaction without a connection being passed down; nested
    `transaction()` calls join the outer one. `on_commit` defers what must only happen once
    the writes are durable (dropping caches): a rolled-back unit runs none of it, but what it
    registered with `on_rollback` instead. Tasks spawned inside a unit inherit it, so they
    must not run queries concurrently with their parent.
    """

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._unit: ContextVar[_Unit | None] = ContextVar(f"tent_unit_{id(self):x}", default=None)

    @property
    def conn(self) -> Executor:
        """The current unit's connection, or the pool (each statement its own transaction)."""
        unit = self._unit.get()
        return self.pool if unit is None else unit.conn

    @property
    def in_transaction(self) -> bool:
        return self._unit.get() is not None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        outer = self._unit.get()
        if outer is not None:
            yield outer.conn
            return
        async with self.pool.acquire() as conn:
            unit = _Unit(conn)
            token = self._unit.set(unit)
            try:
                async with conn.transaction():
                    yield conn
            except BaseException:
                for callback in unit.after_rollback:
                    callback()
                raise
            finally:
                self._unit.reset(token)
        for callback in unit.after_commit:
            callback()

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the current unit commits; at once outside a unit (whatever the
        caller wrote has committed already)."""
        unit = self._unit.get()
        if unit is None:
            callback()
        else:
            unit.after_commit.append(callback)

    def on_rollback(self, callback: Callable[[], None]) -> None:
        """Run `callback` if the current unit rolls back (or fails to commit): what was
        promised to it, such as room in the outbox's queue, is given back."""
        unit = self._unit.get()
        if unit is None:
            raise RuntimeError("on_rollback outside a unit of work")
        unit.after_rollback.append(callback)


def migration_files() -> list[tuple[int, str, str]]:
    """(number, name, sql) for every migration shipped with the package, in order."""
    found = []
    try:
        folder: Any = resources.files("tent.migrations")
    except ModuleNotFoundError:  # running from a source checkout: the folder at the top
        folder = Path(__file__).resolve().parents[2] / "migrations"
    for entry in folder.iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text()))
    found.sort()
    return found


@functools.cache
def shipped_migrations() -> frozenset[int]:
    """The migration numbers this code expects to find applied."""
    return frozenset(number for number, _, _ in migration_files())


async def applied_migrations(conn: Any) -> frozenset[int]:
    return frozenset(r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations"))


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the missing migrations in order, each in its own transaction; safe to run twice."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for number, name, sql in migration_files():
            if number in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", number, name
                )
            log.info("applied migration %s", name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


START_ATTEMPTS = 3


class DataDirError(Exception):
    """The data directory cannot hold the embedded database; the message is the whole story."""


def check_data_dir(data_dir: Path) -> None:
    """Refuse at start, in one line, a data directory this process cannot write (a volume
    owned by root, a read-only mount), instead of a traceback from deep inside PostgreSQL."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DataDirError(
            f"TENT_DATA_DIR {data_dir.resolve()} is not writable by uid {os.getuid()} ({reason})"
        ) from None


def remove_stale_pid_file(pg_dir: Path) -> bool:
    """A `postmaster.pid` left by a crash (kill -9, power loss) may name a PID the system has
    since given to another process, or be half written; pgserver then trusts it or fails to
    parse it. Remove it unless it names a live postgres process serving this directory.
    Returns whether a file was removed."""
    pid_file = pg_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return False
    if lines and lines[0].strip().isdigit() and _is_our_postmaster(int(lines[0]), pg_dir):
        return False
    pid_file.unlink(missing_ok=True)
    # With no server running, the processes pgserver lists as its users are gone too; left
    # listed, they would keep the next server from ever being stopped.
    (pg_dir / ".handle_pids.json").unlink(missing_ok=True)
    log.warning("removed a stale %s (pid %s is not our PostgreSQL)", pid_file, lines[0] if lines else "?")
    return True


def _is_our_postmaster(pid: int, pg_dir: Path) -> bool:
    import psutil  # installed with pgserver

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or "postgres" not in proc.name():
            return False
        cmdline = proc.cmdline()
    except (psutil.Error, OSError):
        return False
    return str(pg_dir) in " ".join(cmdline)


def start_embedded(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) a private PostgreSQL under data_dir; returns (dsn, handle).

    The pip-packaged server runs as an unprivileged system user when we are root, which is
    what CI and the Docker image's first start do.
    """
    check_data_dir(data_dir)
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only the embedded default needs it

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    pg_dir = (data_dir / "postgres").resolve()
    pg_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(START_ATTEMPTS):
        remove_stale_pid_file(pg_dir)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server = pgserver.get_server(pg_dir, cleanup_mode="stop")
            return server.get_uri(), server
        except (AssertionError, subprocess.SubprocessError, OSError) as exc:
            # a previous server still shutting down, or a pid file written while we looked
            if attempt == START_ATTEMPTS - 1:
                raise
            pgserver.PostgresServer._instances.pop(pg_dir, None)  # it keeps the failed handle
            log.warning("embedded PostgreSQL did not start (%s); trying again", type(exc).__name__)
            time.sleep(1.0 + attempt)
    raise AssertionError("unreachable")
