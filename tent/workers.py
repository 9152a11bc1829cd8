"""`tent serve --workers N`: a parent that prepares the database once, then forks N serving
processes that all listen on one port (`SO_REUSEPORT`, the kernel spreads connections).

Each worker is a whole server (its own pool, caches and outbox worker); what they must agree
on already lives in PostgreSQL (nonces, leases, change notifications), so the parent only
supervises: it forwards SIGTERM/SIGINT, waits, and if a worker dies unexpectedly it stops the
others and exits non-zero, leaving restarts to the process manager (systemd, Docker)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
from collections.abc import Awaitable, Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from tent.config import Settings

log = logging.getLogger("tent.workers")
_PR_SET_PDEATHSIG = 1


def run(
    settings: Settings,
    prepare: Callable[[Settings], Awaitable[object]],
    serve: Callable[[Settings], None],
) -> int:
    """Serve with `settings.workers` processes, each running `serve` (which must bind with
    `SO_REUSEPORT`); the exit code is 0 after a requested stop."""
    embedded = None
    if not settings.database_url:  # one embedded PostgreSQL, started here, used by every worker
        from tent.store import db

        dsn, embedded = db.start_embedded(settings.data_dir)
        settings = settings.replace(database_url=dsn)
    asyncio.run(prepare(settings))  # migrations and the start-up posts, once, before any fork
    parent = os.getpid()
    fork = multiprocessing.get_context("fork")
    workers: list[BaseProcess] = []
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.exitcode is None and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    for number in range(settings.workers):
        worker = fork.Process(target=_worker, args=(parent, serve, settings), name=f"tent-worker-{number}")
        worker.start()
        workers.append(worker)
        log.info("worker %d started (pid %s)", number, worker.pid)
    failed = False
    running = list(workers)
    while running:
        for sentinel in wait([w.sentinel for w in running]):
            ended = next(w for w in running if w.sentinel == sentinel)
            ended.join()
            running.remove(ended)
            if ended.exitcode != 0 or not stopping:
                failed = True
                log.error("%s (pid %s) exited with code %s; stopping the others",
                          ended.name, ended.pid, ended.exitcode)
                if not stopping:
                    stop(signal.SIGTERM, None)
    del embedded  # the embedded PostgreSQL stops with its last user
    return 1 if failed else 0


def _worker(parent: int, serve: Callable[[Settings], None], settings: Settings) -> None:
    """One serving process: its own process group, so a terminal's Ctrl-C reaches only the
    parent (which forwards one SIGTERM), and ended by the kernel if the parent dies."""
    os.setpgrp()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: only the parent's SIGTERM stops it
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        return
    serve(settings)
