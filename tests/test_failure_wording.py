"""Delivery failures are explained in words an operator can act on, never a Python repr:
the pure wording function on real network errors, and the one log line per failure."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from tent.core.retry import classify_status, describe_status
from tent.delivery.client import RequestRefused
from tent.delivery.explain import describe_error, host_of
from tests.fed_helpers import deliveries, eventually


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _error_from(url: str, timeout: aiohttp.ClientTimeout | None = None) -> BaseException:
    async with aiohttp.ClientSession(timeout=timeout or aiohttp.ClientTimeout(total=5)) as session:
        try:
            async with session.get(url) as resp:
                await resp.read()
        except Exception as exc:
            return exc
    raise AssertionError(f"{url} answered")


def _key(host: str) -> ConnectionKey:
    return ConnectionKey(host, 443, True, True, None, None, None)


async def test_refused_connection_names_the_host() -> None:
    exc = await _error_from(f"http://127.0.0.1:{_closed_port()}/")
    assert describe_error(exc, "127.0.0.1") == "connection refused by 127.0.0.1"


async def test_server_that_never_answers_is_a_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        exc = await _error_from(f"http://127.0.0.1:{port}/", aiohttp.ClientTimeout(total=0.2))
    finally:
        server.close()
    assert describe_error(exc, "127.0.0.1") == "no answer from 127.0.0.1 in time"


async def test_server_that_hangs_up_closed_the_connection() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        exc = await _error_from(f"http://127.0.0.1:{port}/")
    finally:
        server.close()
    assert describe_error(exc, "127.0.0.1") == "127.0.0.1 closed the connection without answering"


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (
            aiohttp.ClientConnectorDNSError(_key("tent.example.org"), socket.gaierror(-2, "Name unknown")),
            "cannot resolve the name tent.example.org",
        ),
        (
            aiohttp.ClientConnectorDNSError(
                _key("tent.example.org"), OSError("refusing to connect to a private address for x.example")
            ),
            "refusing to connect to a private address for x.example",
        ),
        (
            aiohttp.ClientConnectorError(_key("tent.example.org"), OSError(113, "No route to host")),
            "no route to tent.example.org",
        ),
        (
            aiohttp.ClientConnectorCertificateError(
                _key("tent.example.org"), ssl.SSLCertVerificationError("certificate has expired")
            ),
            "TLS certificate of tent.example.org not accepted",
        ),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "tent.example.org sent a broken"),
        (RequestRefused("refusing to connect to a private address: 10.0.0.1"), "refusing to connect to a"),
        (ValueError("Expecting value: line 1 column 1"), "tent.example.org sent an answer that cannot"),
    ],
)
def test_network_errors_are_described_in_words(exc: BaseException, words: str) -> None:
    described = describe_error(exc, "tent.example.org")
    assert described.startswith(words)
    assert "Error(" not in described and "ConnectionKey" not in described


def test_statuses_are_described_by_code_and_phrase() -> None:
    assert describe_status(503) == "HTTP 503 Service Unavailable"
    assert describe_status(599) == "HTTP 599"
    assert classify_status(404).detail == "HTTP 404 Not Found"


def test_host_of_a_url_is_its_host_name() -> None:
    assert host_of("https://tent.example.org:8443/posts/x") == "tent.example.org"


async def test_each_delivery_failure_is_one_log_line_saying_why(make_server, caplog) -> None:
    alice = await make_server(delivery_give_up_after=0.3)
    down = f"http://127.0.0.1:{_closed_port()}"
    caplog.set_level(logging.INFO, logger="tent.delivery.outbox")
    post = await alice.status("anyone?", mentions=[{"entity": down}])

    async def given_up():
        rows = await deliveries(alice, post["id"])
        return rows if rows and rows[0]["state"] == "failed" else None

    rows = await eventually(given_up)
    assert rows[0]["last_error"] == "unreachable: connection refused by 127.0.0.1"
    lines = [r.getMessage() for r in caplog.records if post["id"] in r.getMessage()]
    assert len(lines) == rows[0]["attempts"]  # one line per failed attempt, the last says so
    assert all("unreachable: connection refused by 127.0.0.1" in line for line in lines)
    assert "failed for good" in lines[-1]
    assert not any("Error(" in line for line in lines)
