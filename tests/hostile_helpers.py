"""Helpers for the hostile-input tests: Hawk signing with mohawk's own Sender (an
independent implementation, payload hash included), raw HTTP/1.1 over a socket for what
HTTP libraries refuse to send, and the checks every answer to bad input must pass."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import mohawk
from mohawk.base import EmptyValue
from yarl import URL

ERROR_MT = "application/vnd.tent.error.v0+json"


@dataclass(frozen=True)
class Signer:
    """A Hawk key the way an app holds it: id, key, and the app id Tent puts in `app`."""

    id: str
    key: str
    app: str | None = None

    def header(
        self,
        method: str,
        url: str,
        body: bytes | None,
        content_type: str | None,
        *,
        payload_hash: bool = True,
    ) -> str:
        if payload_hash:
            content, ctype = (body if body is not None else b""), (content_type or "")
        else:
            content, ctype = EmptyValue, EmptyValue
        sender = mohawk.Sender(
            {"id": self.id, "key": self.key, "algorithm": "sha256"},
            url,
            method,
            content=content,
            content_type=ctype,
            always_hash_content=payload_hash,
            app=self.app,
        )
        return sender.request_header


def signer_for(owner: dict[str, Any]) -> Signer:
    return Signer(owner["id"], owner["hawk_key"], owner["app_id"])


async def send(
    session: aiohttp.ClientSession,
    base: str,
    method: str,
    target: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    signer: Signer | None = None,
    payload_hash: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    """One request, its raw target sent as given (never re-encoded); signed when a signer is given."""
    headers = dict(headers or {})
    url = base + target
    if signer is not None and "Authorization" not in headers:
        headers["Authorization"] = signer.header(
            method, url, body, headers.get("Content-Type"), payload_hash=payload_hash
        )
    async with session.request(
        method,
        URL(url, encoded=True),
        data=body,
        headers=headers,
        allow_redirects=False,
        # aiohttp would add `application/octet-stream` after we signed for no type at all
        skip_auto_headers=() if "Content-Type" in headers else ("Content-Type",),
    ) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def raw_http(port: int, head: bytes, body: bytes = b"", *, close_early: bool = False) -> bytes:
    """Bytes straight onto a socket (`Connection: close` is added); returns what came back.
    With `close_early` the socket is closed right after sending, as a client that dies does."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.rstrip(b"\r\n") + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        if close_early:
            return b""
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0


def assert_json_error(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """A 4xx with the protocol's error media type and a non-empty `error` string."""
    import orjson

    assert 400 <= status < 500, (status, body[:300])
    assert headers.get("Content-Type", "").startswith(ERROR_MT), (status, headers, body[:300])
    parsed = orjson.loads(body)
    assert isinstance(parsed.get("error"), str) and parsed["error"], parsed
    return parsed


class LogWatch(logging.Handler):
    """Collects ERROR records and tracebacks logged while a test runs (installed on the root)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def problems(self) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()}"
            for r in self.records
            if r.levelno >= logging.ERROR or r.exc_info is not None
        ]

    def __enter__(self) -> LogWatch:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)
