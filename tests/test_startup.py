"""What `tent serve` says at start: warnings for settings that only suit a laptop, the
"listening" line only once it serves, JSON lines on request; and the container's health check."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
import pytest

from tent.core.startup_warnings import startup_warnings
from tests.processes import TENT, free_port, run_tent, tent_env


@pytest.mark.parametrize(
    "entity", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "https://localhost"]
)
def test_a_loopback_entity_is_warned_about(entity: str) -> None:
    (warning,) = startup_warnings(entity, "owner")
    assert "loopback" in warning and entity in warning and "TENT_ENTITY" in warning


def test_a_plain_http_public_entity_is_warned_about() -> None:
    (warning,) = startup_warnings("http://tent.example.org", "owner")
    assert "plain http" in warning and "https://" in warning


def test_automatic_app_approval_is_warned_about() -> None:
    (warning,) = startup_warnings("https://tent.example.org", "auto")
    assert "TENT_APP_APPROVAL=auto" in warning


def test_a_public_https_entity_with_owner_approval_starts_quietly() -> None:
    assert startup_warnings("https://tent.example.org", "owner") == []
    assert startup_warnings("https://tent.example.org/me", "owner") == []


async def _start(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, list[str]]:
    """`tent serve`, read until it says it listens (or ends): its stderr lines so far."""
    proc = await asyncio.create_subprocess_exec(
        *TENT, "serve", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    lines: list[str] = []
    async for raw in proc.stderr:
        lines.append(raw.decode(errors="replace").rstrip("\n"))
        if "listening on" in lines[-1]:
            break
    return proc, lines


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        await proc.communicate()


async def test_the_listening_line_comes_once_the_server_answers(new_database) -> None:
    port = free_port()
    env = tent_env(TENT_DATABASE_URL=await new_database(), TENT_PORT=str(port))
    proc, lines = await _start(env)
    try:
        assert "listening on" in lines[-1], lines
        assert f"as http://127.0.0.1:{port}" in lines[-1]
        # No waiting: when the line is written the socket accepts and the database is up.
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 200
        assert any("loopback address" in line for line in lines[:-1])  # the default entity
    finally:
        await _stop(proc)


async def test_a_server_that_cannot_reach_its_database_never_says_it_listens() -> None:
    env = tent_env(
        TENT_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/none", TENT_PORT=str(free_port())
    )
    proc, lines = await _start(env)
    await proc.wait()
    assert proc.returncode != 0
    assert not any("listening on" in line for line in lines)
    assert lines[-1] == "tent: cannot use the database: [Errno 111] Connection refused"
    assert not any("Traceback" in line for line in lines)


async def test_json_log_lines_for_log_shippers(new_database) -> None:
    port = free_port()
    env = tent_env(
        TENT_DATABASE_URL=await new_database(),
        TENT_PORT=str(port),
        TENT_LOG_FORMAT="json",
        TENT_APP_APPROVAL="auto",
    )
    proc, lines = await _start(env)
    try:
        records = [json.loads(line) for line in lines]
        assert all({"level", "logger", "message", "timestamp"} <= set(r) for r in records)
        warnings = [r["message"] for r in records if r["level"] == "WARNING"]
        assert any("TENT_APP_APPROVAL=auto" in m for m in warnings)
        assert records[-1]["level"] == "INFO" and records[-1]["message"].startswith("listening on")
    finally:
        await _stop(proc)


async def test_an_unknown_log_format_is_a_configuration_error() -> None:
    result = await run_tent("migrate", env=tent_env(TENT_LOG_FORMAT="xml"))
    assert result.returncode != 0
    assert "TENT_LOG_FORMAT" in result.stderr and "Traceback" not in result.stderr


async def _healthcheck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tent.healthcheck",
        *args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


async def test_the_container_health_check_follows_the_entity_path(new_database) -> None:
    port = free_port()
    env = tent_env(
        TENT_DATABASE_URL=await new_database(),
        TENT_PORT=str(port),
        TENT_HOST="0.0.0.0",
        TENT_ENTITY=f"http://127.0.0.1:{port}/tent",
    )
    before = await _healthcheck(env)
    assert before.returncode == 1 and f"127.0.0.1:{port}/tent/readyz" in before.stderr
    proc, lines = await _start(env)
    try:
        assert "listening on" in lines[-1], lines
        assert (await _healthcheck(env)).returncode == 0
        assert (await _healthcheck(env, "healthz")).returncode == 0
        elsewhere = await _healthcheck({**env, "TENT_ENTITY": f"http://127.0.0.1:{port}/other"})
        assert elsewhere.returncode == 1 and "HTTP 404" in elsewhere.stderr
    finally:
        await _stop(proc)
