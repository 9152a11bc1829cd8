"""Reading a request's head and body so that every malformed piece becomes a TentError
naming it, where it is read, before authentication or any handler sees it.

The request head (target, query, headers) is checked once per request by `check_head`;
bodies are read through `read_body` / `reading_body`, which turn a truncated or broken body
into a 400 and an oversized one into a 413. Values are checked with the pure rules of
`tent.core.input_safety`; this module only adds what HTTP needs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes, urlsplit

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDictProxy

from tent.core.errors import TentError
from tent.core.input_safety import check_text, text_problem

__all__ = [
    "HANDLER_ARGS",
    "MAX_HEADER_BYTES",
    "check_head",
    "check_headers",
    "quiet_parser_errors",
    "read_body",
    "reading_body",
]

MAX_HEADER_BYTES = 8192
# aiohttp's parser refuses longer lines itself with a plain-text 400; it is given room
# beyond our own limit so that every request it can still frame gets our JSON error.
HANDLER_ARGS = {
    "auto_decompress": False,  # request bodies are never decoded (D-67)
    "max_line_size": 8 * MAX_HEADER_BYTES,
    "max_field_size": 8 * MAX_HEADER_BYTES,
}
# Headers that mean one thing: two of them are a request we cannot interpret.
_SINGLE = ("Authorization", "Content-Type", "Content-Encoding", "Host", "Range")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SIMPLE_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::([0-9]{1,5}))?$")


def _decoded(what: str, raw: str, *, plus: bool = False) -> str:
    """Percent-decode strictly: bad escapes, invalid UTF-8 and NUL are refused (400)."""
    if "%" not in raw and raw.isascii() and "\x00" not in raw:
        return raw  # nothing to decode (the common case, checked first for speed)
    if _BAD_ESCAPE.search(raw):
        raise TentError(f"Malformed percent-encoding in {what}")
    try:
        text = unquote_to_bytes(raw.replace("+", " ") if plus else raw).decode("utf-8")
    except UnicodeDecodeError:
        raise TentError(f"{what} is not valid UTF-8 after percent-decoding") from None
    return check_text(what, text)


def _check_query(raw_query: str) -> None:
    if "%" not in raw_query and raw_query.isascii() and "\x00" not in raw_query:
        return
    for pair in raw_query.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        name = _decoded("a query parameter name", raw_name, plus=True)
        _decoded(f"query parameter {name[:64]!r}", raw_value, plus=True)


@functools.lru_cache(maxsize=256)
def _check_host(host: str) -> None:
    """Remembered when it passes (a refusal raises, and is not): every request asks again."""
    m = _SIMPLE_HOST.match(host)
    if m and (not m.group(1) or int(m.group(1)) <= 65535):
        return  # a name or IPv4 address with an ordinary port: nothing to parse
    try:
        parts = urlsplit("//" + host)
        parts.port  # noqa: B018 (parsing the port is the check: it raises when out of range)
    except ValueError:
        raise TentError("Invalid Host header") from None
    if parts.hostname is None or parts.path or parts.query or parts.fragment:
        raise TentError("Invalid Host header")


def check_headers(headers: CIMultiDictProxy[str], what: str) -> None:
    """Headers of a request or of a multipart part: not repeated, not over-long, storable."""
    if len(headers) > len({k.lower() for k in headers}):  # a header repeated: one of ours?
        for name in _SINGLE:
            if len(headers.getall(name, ())) > 1:
                raise TentError(f"{what} {name} given more than once")
    values = headers.values()
    if max(map(len, values), default=0) > MAX_HEADER_BYTES or text_problem("".join(values)):
        for name, value in headers.items():  # only now, to name the header
            if len(value) > MAX_HEADER_BYTES:
                raise TentError(f"{what} {name[:64]} is longer than {MAX_HEADER_BYTES} bytes")
            check_text(f"{what} {name[:64]}", value)


def check_head(request: web.Request) -> None:
    """The request target and headers: well-formed, storable, not over-long, not repeated."""
    raw = request.raw_path
    if len(raw) > MAX_HEADER_BYTES:
        raise TentError(f"Request target longer than {MAX_HEADER_BYTES} bytes", 414)
    path, _, query = raw.partition("?")
    _decoded("the path", path)
    _check_query(query)
    headers = request.headers
    check_headers(headers, "Header")
    host = headers.get("Host")
    if host is not None:
        _check_host(host)
    coding = headers.get("Content-Encoding", "").strip().lower()
    if coding not in ("", "identity") and request.body_exists:
        raise TentError(
            f"Content-Encoding {coding[:64]} is not accepted: send the request body uncompressed",
            415,
            headers={"Accept-Encoding": "identity"},
        )


@contextlib.contextmanager
def reading_body() -> Iterator[None]:
    """Around any read of the body: truncation and framing errors are the client's (400)."""
    try:
        yield
    except web.HTTPRequestEntityTooLarge:
        raise TentError("Request body too large", 413) from None
    except (RequestPayloadError, BadHttpMessage) as exc:
        raise TentError(f"Request body incomplete or malformed: {exc}") from None


async def read_body(request: web.Request) -> bytes:
    with reading_body():
        return await request.read()


class _ParserErrorsOnOneLine(logging.Filter):
    """aiohttp answers requests its HTTP parser cannot frame (a bad chunk size, a header
    line past the limit) with its own 400 and logs the parser's traceback as an error; they
    are the client's mistakes, so they are logged as one warning line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg, record.args = "refused a malformed HTTP request: %s", (str(exc).splitlines()[0],)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_FILTER = _ParserErrorsOnOneLine()


def quiet_parser_errors() -> None:
    logging.getLogger("aiohttp.server").addFilter(_FILTER)  # adding it twice keeps one
