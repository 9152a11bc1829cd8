"""Hawk for the tests, done by an independent implementation (mohawk), never by the
server's own signer: a bug shared by both sides could not show up otherwise.

Like every standard Hawk client, requests hash their payload by default (the whole raw
body, multipart included); `payload_hash=False` is the opt-out for tests that need a
request without one. Bewits are made the way clients share a private URL (npm
`hawk.uri.getBewit`): with whatever credentials they hold.
"""

from __future__ import annotations

from typing import IO

import mohawk
import mohawk.bewit
from mohawk.base import EmptyValue, Resource

from tent.auth.hawk import Credentials


def _map(creds: Credentials) -> dict[str, str]:
    return {"id": creds.id, "key": creds.key, "algorithm": creds.algorithm}


def sender(
    creds: Credentials,
    method: str,
    url: str,
    content: bytes | IO[bytes] | None = None,
    content_type: str | None = None,
    *,
    app: str | None = None,
    payload_hash: bool = True,
    ts: int | None = None,
) -> mohawk.Sender:
    """A mohawk Sender for one request (its `accept_response` checks Server-Authorization).
    A body is hashed unless `payload_hash` is False; `content` may be a file object."""
    hashed = payload_hash and content is not None
    return mohawk.Sender(
        _map(creds),
        url,
        method,
        content=content if hashed else EmptyValue,
        content_type=(content_type or "") if hashed else EmptyValue,
        always_hash_content=hashed,
        app=app,
        _timestamp=ts,
    )


def sign(creds: Credentials, method: str, url: str, *args, **kwargs) -> str:
    """The `Authorization` header value for one request (arguments as for `sender`)."""
    return sender(creds, method, url, *args, **kwargs).request_header


def bewit(creds: Credentials, url: str, exp: int) -> str:
    """`url` with a bewit signed by `creds`, valid until `exp`. mohawk pads its base64url
    output; Tent's bewits (and npm hawk's) are unpadded, hence the strip."""
    resource = Resource(credentials=_map(creds), url=url, method="GET", nonce="", timestamp=exp)
    token = mohawk.bewit.get_bewit(resource).rstrip("=")
    return f"{url}{'&' if '?' in url else '?'}bewit={token}"
