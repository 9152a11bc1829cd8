"""A Hawk payload hash checked while the body streams (§4.5, §3.1 "the whole multipart body
counts"): standard clients hash multipart bodies too, and those bodies carry attachments far
larger than anything the server may hold in memory.

The authenticator verifies the MAC (which covers the claimed hash) before the body is read
and leaves a `PayloadCheck` on the request; whoever reads the body wraps the request stream
in a `HashingStream` and calls `verify()` once the last byte is in, before anything read from
it is committed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import StreamReader, web

from tent.auth.hawk import PayloadHash, invalid_hash

_DRAIN_CHUNK = 64 * 1024


@dataclass(slots=True)
class PayloadCheck:
    """The hash a request claims, and the running hash of the bytes read so far."""

    expected: str
    running: PayloadHash

    def verify(self) -> None:
        if not self.running.matches(self.expected):
            raise invalid_hash()


PAYLOAD_CHECK = web.RequestKey("payload_check", PayloadCheck)
_STREAMS = "_tent_checks_payload_while_streaming"
H = TypeVar("H", bound=Callable[..., object])


def checks_payload_while_streaming(handler: H) -> H:
    """Marks a handler that reads its multipart body through `HashingStream` and calls
    `finish` before committing. Every other handler gets its body checked before it runs."""
    setattr(handler, _STREAMS, True)
    return handler


async def check_before_handler(request: web.Request, handler: Callable[..., object]) -> None:
    """For a deferred check and a handler that does not stream: read and check the whole
    body now (bounded by the body size limit), so no handler ever sees unverified bytes.
    aiohttp's middleware wrappers copy the handler's attributes, so the mark is seen."""
    check = request.get(PAYLOAD_CHECK)
    if check is not None and not getattr(handler, _STREAMS, False):
        check.running.update(await request.read())
        check.verify()


def streams_its_body(content_type: str | None) -> bool:
    """Bodies read as a stream (multipart) get their hash checked as they are read."""
    return (content_type or "").split(";", 1)[0].strip().lower().startswith("multipart/")


class HashingStream:
    """The request's StreamReader as aiohttp's multipart reader uses it (read, readline,
    at_eof, unread_data), feeding every byte into the hash exactly once.

    The multipart reader pushes bytes back (`unread_data`) and reads them again; those are
    always the tail of what it already read, so a high-water mark over the byte position
    says which bytes are new to the hash.
    """

    def __init__(self, stream: StreamReader, check: PayloadCheck) -> None:
        self._stream = stream
        self._check = check
        self._position = 0  # bytes handed out, minus bytes given back
        self._hashed = 0  # bytes fed to the hash

    def _seen(self, data: bytes) -> bytes:
        end = self._position + len(data)
        if end > self._hashed:
            self._check.running.update(data[len(data) - (end - self._hashed) :])
            self._hashed = end
        self._position = end
        return data

    async def read(self, n: int = -1) -> bytes:
        return self._seen(await self._stream.read(n))

    async def readany(self) -> bytes:
        return self._seen(await self._stream.readany())

    async def readline(self, *, max_line_length: int | None = None) -> bytes:
        return self._seen(await self._stream.readline(max_line_length=max_line_length))

    def at_eof(self) -> bool:
        return self._stream.at_eof()

    def unread_data(self, data: bytes) -> None:
        self._position -= len(data)
        with warnings.catch_warnings():  # deprecated in aiohttp, but its multipart reader needs it
            warnings.simplefilter("ignore", DeprecationWarning)
            self._stream.unread_data(data)

    async def finish(self) -> None:
        """Hash whatever follows the last part (an epilogue), then compare: 403 on mismatch."""
        while await self.read(_DRAIN_CHUNK):
            pass
        self._check.verify()
