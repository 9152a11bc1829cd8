"""What the memory tests share: the payload size, the bound its peak may grow by, and how the
peak resident set of a server process is read (Linux's VmHWM)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

SIZE = 50 * 1024 * 1024
BOUND = 30 * 1024 * 1024
PHOTO = "https://tent.io/types/photo/v0#"


def peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


async def generated(size: int, hasher: hashlib._Hash) -> AsyncIterator[bytes]:
    block = bytes(range(256)) * 4096  # 1 MiB
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        hasher.update(piece)
        sent += len(piece)
        yield piece
