"""Why a request to another server failed, in words an operator can act on.

Delivery errors end up in log lines, in `last_error` of `/deliveries` and in failure posts,
where `ClientConnectorError(ConnectionKey(host='…', port=443, …), ConnectionRefusedError(…))`
says nothing useful; `connection refused by tent.example.org` does. Pure: it only looks at
the exception (the host is passed in, because timeouts do not name it).
"""

from __future__ import annotations

import errno
import socket
import ssl
from urllib.parse import urlsplit

import aiohttp

from tent.delivery.client import RequestRefused

_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused by {host}",
    errno.ECONNRESET: "connection reset by {host}",
    errno.ETIMEDOUT: "connecting to {host} timed out",
    errno.EHOSTUNREACH: "no route to {host}",
    errno.ENETUNREACH: "network unreachable for {host}",
    errno.EHOSTDOWN: "{host} is down",
}


def _os_words(error: OSError, host: str) -> str:
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the name {host}"
    words = _ERRNO_WORDS.get(error.errno or 0)
    if words:
        return words.format(host=host)
    if error.errno is None and error.args and isinstance(error.args[0], str):
        return error.args[0]  # our own refusals (the private-address guard) are sentences already
    reason = (error.strerror or "").lower() or "an unknown network error"
    return f"cannot connect to {host}: {reason}"


def _tls_words(error: BaseException, host: str) -> str:
    inner = getattr(error, "certificate_error", error)
    detail = getattr(inner, "verify_message", None) or getattr(inner, "reason", None)
    return f"TLS certificate of {host} not accepted" + (f": {detail}" if detail else "")


def describe_error(exc: BaseException, host: str) -> str:
    """One short phrase for a failed outgoing request to `host`: never a repr."""
    if isinstance(exc, RequestRefused):
        return str(exc)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return _tls_words(exc, host)
    if isinstance(exc, aiohttp.ClientConnectorSSLError | ssl.SSLError):
        return f"TLS handshake with {host} failed"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _os_words(exc.os_error, host)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connecting to {host} timed out"
    if isinstance(exc, TimeoutError):  # aiohttp's socket and total timeouts included
        return f"no answer from {host} in time"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{host} closed the connection without answering"
    if isinstance(exc, ConnectionResetError):
        return f"connection reset by {host}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"{host} sent a broken response body"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL for {host}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{host} sent an invalid HTTP response"
    if isinstance(exc, OSError):
        return _os_words(exc, host)
    if isinstance(exc, ValueError):
        return f"{host} sent an answer that cannot be read"
    return f"unexpected {type(exc).__name__} talking to {host}"


def host_of(url: str) -> str:
    return urlsplit(url).hostname or url
