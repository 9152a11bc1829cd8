"""The embedded PostgreSQL starts after any crash, and a data directory it cannot use is a
one-line error at start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tent.store import db


def _start_and_query(data_dir: Path) -> int:
    dsn, handle = db.start_embedded(data_dir)
    try:

        async def one() -> int:
            conn = await asyncpg.connect(dsn)
            try:
                return await conn.fetchval("SELECT 1")
            finally:
                await conn.close()

        return asyncio.run(one())
    finally:
        handle.cleanup()


@contextlib.contextmanager
def _bystander() -> Iterator[int]:
    """A live process that is not PostgreSQL, for a stale pid file to name (never the test's
    own: a server that trusted the file would signal that process when it stops)."""
    proc = subprocess.Popen(["sleep", "120"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _plant(pid_file: Path, first_line: str, rest: list[str]) -> None:
    pid_file.write_text("\n".join([first_line, *rest]) + "\n")


def test_embedded_postgresql_starts_over_a_stale_pid_file_naming_a_live_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert _start_and_query(data_dir) == 1  # initialised, then stopped cleanly
    pid_file = data_dir / "postgres" / "postmaster.pid"
    assert not pid_file.exists()
    # As after kill -9: the file survives and its PID now belongs to another live process.
    full = [str(data_dir / "postgres"), "1700000000", "", "/tmp", "", "  1234  5678", "ready   "]
    with _bystander() as pid:
        _plant(pid_file, str(pid), full)
        assert _start_and_query(data_dir) == 1


def test_embedded_postgresql_starts_over_a_half_written_pid_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert _start_and_query(data_dir) == 1
    with _bystander() as pid:  # written during start-up, before the rest of the lines
        _plant(data_dir / "postgres" / "postmaster.pid", str(pid), [str(data_dir / "postgres")])
        assert _start_and_query(data_dir) == 1


def test_a_running_embedded_server_keeps_its_pid_file(tmp_path: Path) -> None:
    _dsn, handle = db.start_embedded(tmp_path / "data")
    try:
        assert db.remove_stale_pid_file((tmp_path / "data" / "postgres").resolve()) is False
    finally:
        handle.cleanup()


@contextlib.contextmanager
def _unwritable(directory: Path) -> Iterator[None]:
    """A directory this process cannot write: read-only permissions for an ordinary user;
    for root (who may write anywhere) a read-only mount, as a container volume can be."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        yield
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(directory)], check=False
    )
    if mounted.returncode != 0:
        pytest.skip("running as root and cannot mount a read-only tmpfs to make an unwritable directory")
    try:
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def test_unwritable_data_dir_is_a_one_line_error_naming_the_uid(tmp_path: Path) -> None:
    data_dir = tmp_path / "volume"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENT_")}
    env.update(TENT_DATA_DIR=str(data_dir), TENT_PORT="0")
    with _unwritable(data_dir):
        proc = subprocess.run(
            [sys.executable, "-m", "tent", "serve"], env=env, capture_output=True, text=True, timeout=60
        )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"tent: TENT_DATA_DIR {data_dir} is not writable by uid {os.geteuid()} (")


@pytest.mark.parametrize("command", ["migrate", "credentials"])
def test_other_commands_give_the_same_one_line_error(tmp_path: Path, command: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENT_")}
    env["TENT_DATA_DIR"] = str(blocker / "data")  # a path under a file can never be created
    proc = subprocess.run(
        [sys.executable, "-m", "tent", command], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"tent: TENT_DATA_DIR {blocker / 'data'} is not writable by uid {os.geteuid()} (Not a directory)"
    ]
