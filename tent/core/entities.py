"""What an entity URL may look like (§1.1): one check for the server's own entity, entities
named in requests, and those the status client is given (D-82)."""

from __future__ import annotations

from urllib.parse import urlsplit

EXAMPLE = "https://alice.example.com"


def check_entity(entity: str, *, exact: bool = True) -> str:
    """`entity` if it is an http(s) URL with a host and no query or fragment; else ValueError
    saying what is wrong. Entities are compared as exact strings (D-02), so `exact` also refuses
    a trailing slash, which would never match; a person typing one (the status client) gets
    `exact=False`, and discovery then tries the URL both ways."""
    try:
        parts = urlsplit(entity)
        parts.port  # noqa: B018 (parsing the port is the check: it raises when out of range)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{entity!r} is not an entity URL: it must be an http(s) URL like {EXAMPLE}")
    if parts.query or parts.fragment or (exact and entity.endswith("/")):
        slash = ", fragment or trailing slash" if exact else " or fragment"
        raise ValueError(f"{entity!r} is not an entity URL: it must have no query{slash}")
    return entity
