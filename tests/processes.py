"""Helpers for tests that run `tent serve` as real processes, several on one database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

TENT = [sys.executable, "-m", "tent"]


def tent_env(**values: str) -> dict[str, str]:
    """The test's environment without any TENT_ setting of the developer's, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENT_")}
    env.update(values)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_tent(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = await asyncio.create_subprocess_exec(
        *TENT, *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


@dataclass
class Served:
    """One `tent serve` process: its port, and its stderr collected as it runs."""

    proc: asyncio.subprocess.Process
    port: int
    log: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader


async def serve(env: dict[str, str], port: int) -> Served:
    """Start `tent serve` on `port` and return once it answers discovery."""
    proc = await asyncio.create_subprocess_exec(
        *TENT, "serve", env={**env, "TENT_PORT": str(port)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    served = Served(proc, port)

    async def read() -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            served.log.append(line.decode(errors="replace"))

    served._reader = asyncio.create_task(read())
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.head(served.base + "/") as resp:
                    if resp.status == 200:
                        return served
            except aiohttp.ClientConnectionError:
                if proc.returncode is not None:
                    await served._reader
                    raise AssertionError("".join(served.log)) from None
                await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start")


async def owner_credentials(env: dict[str, str]) -> dict[str, str]:
    result = await run_tent("credentials", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`, read from /proc (zombies left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended while we looked
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(entry.name))
    return sorted(found)


def listening_on(pid: int, port: int) -> bool:
    """Whether `pid` holds a TCP socket listening on `port` (its fds against /proc/net/tcp)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{cols[9]}]")
    held = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                held.add(os.readlink(fd))
    return bool(inodes & held)
