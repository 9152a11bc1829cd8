"""Limits every piece of request input must meet before anything else looks at it.

PostgreSQL cannot store NUL or lone surrogates in text or jsonb, its bigint stops at 2^63,
and a JSON document nested thousands of levels deep overflows any recursive walk. These
checks run where input is read (the JSON body, the request head, multipart part headers,
query numbers), so a hostile request is refused with a 400 that names the offending field,
and no later layer (validation's recursive checker, the store) ever sees such a value.
Every walk here is iterative: its cost is bounded by the input's size, never its depth.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import urlsplit

import orjson

from tent.core.errors import TentError

__all__ = [
    "MAX_DEPTH",
    "MAX_TIMESTAMP",
    "bounded_int",
    "check_attachment_part",
    "check_json",
    "check_text",
    "is_url",
    "parse_json",
    "text_problem",
]

MAX_DEPTH = 64
# 9999-12-31T23:59:59.999Z in milliseconds: the latest time PostgreSQL and every client
# library can still format; later "times" are garbage, not posts from the future.
MAX_TIMESTAMP = 253_402_300_799_999
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_DECIMAL = re.compile(r"^[+-]?[0-9]{1,19}$")


def text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store this text, or None when it can."""
    m = _UNSTORABLE.search(value)
    if m is None:
        return None
    if m.group() == "\x00":
        return "contains NUL (U+0000)"
    return f"contains a lone surrogate (U+{ord(m.group()):04X}), which is not valid Unicode"


def check_text(name: str, value: str, *, max_len: int | None = None) -> str:
    """`value`, or a 400 naming `name` when it cannot be stored or is longer than `max_len`."""
    problem = text_problem(value)
    if problem is not None:
        raise TentError(f"{name} {problem}")
    if max_len is not None and len(value) > max_len:
        raise TentError(f"{name} is too long: at most {max_len} characters")
    return value


@functools.lru_cache(maxsize=1024)
def is_url(value: str) -> bool:
    """An absolute URL with a host that urllib can take apart: an unclosed IPv6 literal or
    a port out of range makes later code raise, so such URLs are refused where they arrive.
    Remembered: every request for one of a few entities' posts asks again."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (parsing the port is the check: it raises when out of range)
    except ValueError:
        return False
    return bool(parts.scheme and parts.hostname)


def _pointer(path: str, key: str | int) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def check_json(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than `max_depth`, text PostgreSQL cannot store (in member
    names too), and integers outside 64 bits; the message names the JSON pointer."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                raise TentError(f"{path or '/'} {problem}")
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise TentError(f"{path or '/'} is out of range: integers must fit in 64 bits")
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise TentError(f"JSON nested deeper than {max_depth} levels at {path or '/'}")
            if isinstance(item, dict):
                for key, member in item.items():
                    member_path = _pointer(path, key)
                    problem = text_problem(key)
                    if problem is not None:  # the name itself stays out of the message
                        raise TentError(f"a member name in {path or '/'} {problem}")
                    stack.append((member, member_path, depth + 1))
            else:
                stack.extend((member, _pointer(path, i), depth + 1) for i, member in enumerate(item))


def parse_json(raw: bytes) -> Any:
    """A request body as JSON that passed `check_json`; 400 "Invalid JSON" otherwise (§10.2)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson refuses lone surrogate escapes and nesting past its own limit with the
        # same exception; say which, since both are deliberate, not typos.
        reason = str(exc)
        if "depth limit" in reason:
            raise TentError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
        if "surrogate" in reason:
            _name_the_surrogate(raw)
        raise TentError("Invalid JSON") from None
    check_json(value)
    return value


def _name_the_surrogate(raw: bytes) -> None:
    """orjson names only a character offset; the standard parser keeps lone surrogates, so
    `check_json` can name the member. Raises its TentError, or returns if it finds none."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return
    check_json(value)


def bounded_int(name: str, raw: str, *, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    """A decimal integer parameter within [minimum, maximum], checked before it reaches SQL."""
    text = raw.strip()
    if not _DECIMAL.match(text):
        raise TentError(f"Invalid {name}: must be an integer between {minimum} and {maximum}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise TentError(f"Invalid {name}: must be an integer between {minimum} and {maximum}")
    return value


MAX_PART_NAME = 255  # a field name (the category) or a file name, in characters
MAX_MEDIA_TYPE = 255


def check_attachment_part(
    field_name: str, filename: str | None, content_type: str | None
) -> tuple[str, str, str]:
    """(field name, file name, media type) of one multipart file part, or a 400 naming the
    part. A file part needs a file name: it becomes the attachment's `name` (§2.12), and a
    part we cannot name would be dropped, which loses what the client sent."""
    label = f"multipart part {field_name[:64]!r}"
    check_text(f"The field name of {label}", field_name, max_len=MAX_PART_NAME)
    if not filename:
        raise TentError(f"The {label} has no filename: every part after the post is an attachment")
    check_text(f"The filename of {label}", filename, max_len=MAX_PART_NAME)
    media_type = (content_type or "").strip() or "application/octet-stream"
    check_text(f"The Content-Type of {label}", media_type, max_len=MAX_MEDIA_TYPE)
    return field_name, filename, media_type
