"""Hawk 1.0 ("hawk.1") primitives for Tent v0.3 (docs/protocol.md §4): parsing, verifying and signing.

Everything here is pure (no database, no aiohttp web objects) so the request layer can fetch
credentials asynchronously first and then call these functions with plain values, and so the
test vectors of §4.10 can be checked without a server.

mohawk computes the ``tsm`` values and checks header attribute values; the MACs and payload
hashes are written out here (mohawk's cost most of a request's signing time, measured), and
the tests check them against mohawk's own Sender and Receiver and Tent's vectors. mohawk is
*not* used for whole-request verification because its callbacks are synchronous and its bewit
decoder cannot read Tent's unpadded URL-safe bewits (docs/notes.md), so the verification order
of §4.6 and the bewit format of §4.9 live here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import mohawk.exc
import mohawk.util
from yarl import URL

from tent.core.errors import TentError

__all__ = [
    "Credentials",
    "HawkError",
    "PayloadHash",
    "RequestAuth",
    "bewit_key_id",
    "bewit_url",
    "invalid_hash",
    "make_bewit",
    "parse_authorization",
    "payload_hash",
    "sign_request",
    "sign_response",
    "strip_bewit",
    "verify_bewit",
    "verify_request",
    "verify_response",
]

_ID_RE = re.compile(r"^[-0-9A-Za-z_]+$")
_TS_RE = re.compile(r"^[0-9]+$")
_BEWIT_RE = re.compile(r"^[-0-9A-Za-z_]*$")
# Hash functions Hawk defines; anything else is a configuration error, not a client error.
_ALGORITHMS = frozenset({"sha1", "sha256"})


@dataclass(frozen=True)
class Credentials:
    """A Hawk key: ``id`` is the credentials post id (or the server's own id).

    ``key`` is the ``hawk_key`` used as literal ASCII bytes: Tent never hex- or base64-decodes it (§4.1).
    """

    id: str
    key: str
    algorithm: str = "sha256"


@dataclass(frozen=True)
class RequestAuth:
    """The attributes of a request's ``Authorization: Hawk …`` header, as sent (§4.2).

    Kept verbatim because the MAC covers the values the client sent, not our reinterpretation.
    """

    id: str
    ts: int
    nonce: str
    mac: str
    hash: str | None = None
    ext: str | None = None
    app: str | None = None
    dlg: str | None = None


class HawkError(TentError):
    """An authentication failure (D-52): 403 by default, 401 only for a stale timestamp.

    ``www_authenticate`` is set on the 401 so the client can resynchronise its clock (§4.7); it
    belongs in a header, not the JSON body, so it is also exposed as ``headers`` for the
    middleware that renders ``TentError``.
    """

    def __init__(self, message: str, status: int = 403, *, www_authenticate: str | None = None) -> None:
        super().__init__(message, status)
        self.www_authenticate = www_authenticate
        # Set after construction (not passed as ``headers=``) so it can never end up in the JSON body.
        self.headers = {"WWW-Authenticate": www_authenticate} if www_authenticate else {}


def _fail(reason: str, status: int = 403, *, www_authenticate: str | None = None) -> HawkError:
    """Build the tentd-style message; reasons are fixed strings, never the normalized string (D-33)."""
    return HawkError(f"Authentication failure: {reason}", status, www_authenticate=www_authenticate)


# --------------------------------------------------------------------------------------------
# MAC building blocks
# --------------------------------------------------------------------------------------------


def _creds_map(creds: Credentials) -> dict[str, str]:
    if creds.algorithm not in _ALGORITHMS:
        raise ValueError(f"unsupported Hawk algorithm {creds.algorithm!r}")
    return {"id": creds.id, "key": creds.key, "algorithm": creds.algorithm}


def _escape_ext(ext: str | None) -> str:
    """Escape ``ext`` as the npm hawk library does before it enters the normalized string.

    mohawk skips this; it only matters for a ``\\`` or newline, which header values cannot
    carry, but a bewit's ext could, and npm interoperability is a project requirement.
    """
    return (ext or "").replace("\\", "\\\\").replace("\n", "\\n")


def _mac(
    kind: str,
    creds: Credentials,
    *,
    ts: int | str,
    nonce: str,
    method: str,
    uri: str,
    host: str,
    port: int | str,
    hash: str | None,
    ext: str | None,
    app: str | None,
    dlg: str | None,
) -> str:
    """base64 HMAC of the normalized string of ``kind`` (header, response or bewit), §4.3–4.4.

    Written out rather than through ``mohawk.util.calculate_mac``, which formats a debug
    message of the whole string on every call: 8.2 µs against 3.6 per MAC, and a signed
    request takes two. The tests check it against mohawk's Sender and Tent's vectors."""
    if creds.algorithm not in _ALGORITHMS:
        raise ValueError(f"unsupported Hawk algorithm {creds.algorithm!r}")
    lines = [f"hawk.1.{kind}", str(ts), nonce, method.upper(), uri, host.lower(), str(port)]
    lines += [hash or "", _escape_ext(ext)]
    if app:
        lines += [app, dlg or ""]
    lines.append("")
    digest = hmac.digest(creds.key.encode("ascii"), "\n".join(lines).encode("utf-8"), creds.algorithm)
    return base64.b64encode(digest).decode("ascii")


class PayloadHash:
    """The §4.5 payload hash computed incrementally, so a body can be checked while it
    streams: multipart uploads are hashed as the parser consumes them, never held whole."""

    def __init__(self, content_type: str | None, algorithm: str = "sha256") -> None:
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"unsupported Hawk algorithm {algorithm!r}")
        self._digest = hashlib.sha256() if algorithm == "sha256" else hashlib.new(algorithm)
        self._digest.update(_payload_prefix(content_type))

    def update(self, data: bytes) -> None:
        self._digest.update(data)

    def value(self) -> str:
        final = self._digest.copy()
        final.update(b"\n")
        return base64.b64encode(final.digest()).decode("ascii")

    def matches(self, expected: str) -> bool:
        return _same(self.value(), expected)


@functools.lru_cache(maxsize=256)
def _payload_prefix(content_type: str | None) -> bytes:
    """The hash's first line and the bare mime type: a server answers with few media types."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return b"hawk.1.payload\n" + mime.encode() + b"\n"


def invalid_hash() -> HawkError:
    """A body that does not match its signed hash: refused like any forged request (§4.6)."""
    return _fail("Invalid hash")


def payload_hash(content: bytes | None, content_type: str | None, algorithm: str = "sha256") -> str:
    """§4.5: hash of ``hawk.1.payload``, the bare lower-cased mime type and the body bytes."""
    # Computed here rather than by mohawk, whose version pretty-prints the whole body for a
    # debug message on every call (most of a feed request's CPU time, measured).
    digest = PayloadHash(content_type, algorithm)
    digest.update(content or b"")
    return digest.value()


def _ts_mac(ts: int, creds: Credentials) -> str:
    """§4.7: the ``tsm`` that lets a client trust the server time sent with a stale-timestamp 401."""
    return mohawk.util.calculate_ts_mac(ts, _creds_map(creds)).decode("ascii")


def _same(a: str, b: str) -> bool:
    """Constant-time comparison; encoded first because ``compare_digest`` refuses non-ASCII str."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


_ATTRIBUTE = re.compile(r'\s*([a-z]+)="([ !#-\[\]-~]*)"\s*(?:,|$)')
_KEYS = frozenset({"id", "ts", "nonce", "hash", "ext", "mac", "app", "dlg"})


def _parse_attributes(header: str) -> dict[str, str]:
    """Split ``Hawk k="v", …`` into a dict, with Hawk's strict grammar: known keys only, each
    once, values from the header alphabet (no ``"`` or ``\\``), nothing left over. Every
    failure is the same generic 403. (Hand-written rather than mohawk's parser: this runs on
    every request and mohawk's was a tenth of a feed request's time, measured.)"""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "hawk":
        raise _fail("Unsupported authentication scheme")
    rest = rest.strip()
    if not rest:
        raise _fail("Missing attributes")
    attrs: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _ATTRIBUTE.match(rest, pos)
        if m is None or m.group(1) not in _KEYS or m.group(1) in attrs or m.end() == pos:
            raise _fail("Bad header format")
        attrs[m.group(1)] = m.group(2)
        pos = m.end()
    return attrs


def _url_parts(url: str) -> tuple[str, str, int]:
    """(request-uri, host, port) exactly as an aiohttp client will send ``URL(url, encoded=True)``.

    ``encoded=True`` stops yarl from re-encoding the path (``%3A`` → ``:``), which would make
    the peer MAC different bytes than we signed (docs/notes.md "Hawk and URLs"). Callers must
    send the request with the same ``URL(url, encoded=True)``.
    """
    u = URL(url, encoded=True)
    if not u.raw_host or u.port is None:
        raise ValueError(f"cannot sign a URL without host and port: {url!r}")
    return u.raw_path_qs, u.raw_host.lower(), u.port


# --------------------------------------------------------------------------------------------
# Requests (server side)
# --------------------------------------------------------------------------------------------


def parse_authorization(header: str) -> RequestAuth:
    """Parse an ``Authorization: Hawk …`` header into :class:`RequestAuth`.

    Raises ``HawkError`` (403) for anything malformed, for a missing ``id``/``ts``/``nonce``/``mac``,
    and for an id outside ``^[-0-9A-Za-z_]+$`` ("Unidentified id", §4.6), so garbage never
    reaches the credentials lookup.
    """
    attrs = _parse_attributes(header)
    for required in ("id", "ts", "nonce", "mac"):
        if not attrs.get(required):
            raise _fail(f"Missing {required}")
    if not _ID_RE.match(attrs["id"]):
        raise _fail("Unidentified id")
    if not _TS_RE.match(attrs["ts"]):
        raise _fail("Invalid ts")
    return RequestAuth(
        id=attrs["id"],
        ts=int(attrs["ts"]),
        nonce=attrs["nonce"],
        mac=attrs["mac"],
        hash=attrs.get("hash") or None,
        ext=attrs.get("ext") or None,
        app=attrs.get("app") or None,
        dlg=attrs.get("dlg") or None,
    )


def verify_request(
    auth: RequestAuth,
    creds: Credentials,
    *,
    method: str,
    uri: str,
    host: str,
    port: int,
    content: bytes | None,
    content_type: str | None,
    now: float,
    skew: int = 60,
    hash_checked_later: bool = False,
) -> None:
    """Check a parsed request header against the key of its id, in the order of §4.6.

    ``uri`` is the raw request target (aiohttp ``request.raw_path``), still percent-encoded,
    because that is what the client signed. ``host``/``port`` should come from configuration
    (a TLS-terminating proxy changes what the server sees). The payload hash is optional in
    Tent: checked when present, a body without one is accepted. Replay protection is separate
    (`tent.auth.replay`, D-32), to be consulted after this succeeds so forged requests
    cannot fill it.
    With ``hash_checked_later`` the MAC (which covers the claimed hash) is checked now and the
    body later, as it streams (:class:`PayloadHash`); ``content`` is then not needed.
    """
    if abs(now - auth.ts) > skew:
        server_ts = int(now)
        tsm = _ts_mac(server_ts, creds)
        raise _fail(
            "Stale timestamp",
            401,
            www_authenticate=f'Hawk ts="{server_ts}", tsm="{tsm}", error="Stale timestamp"',
        )
    if (
        auth.hash is not None
        and not hash_checked_later
        and not _same(payload_hash(content, content_type, creds.algorithm), auth.hash)
    ):
        raise invalid_hash()
    expected = _mac(
        "header",
        creds,
        ts=auth.ts,
        nonce=auth.nonce,
        method=method,
        uri=uri,
        host=host,
        port=port,
        hash=auth.hash,
        ext=auth.ext,
        app=auth.app,
        dlg=auth.dlg,
    )
    if not _same(expected, auth.mac):
        raise _fail("Invalid mac")


def sign_response(
    auth: RequestAuth,
    creds: Credentials,
    *,
    method: str,
    uri: str,
    host: str,
    port: int,
    content: bytes | None,
    content_type: str | None,
    content_hash: str | None = None,
) -> str:
    """The ``Server-Authorization`` value for a response to an accepted request (§4.8, D-34).

    The MAC reuses the request's ts, nonce, method, URI, host, port, app and dlg with the
    response's own payload hash, so the client knows the answer belongs to its request. The
    hash is left out for an empty body (HEAD, 304), as the documentation's examples do.
    `content_hash`: that hash, when the caller already computed it with ``payload_hash``.
    """
    response_hash = None
    if content:
        response_hash = content_hash or payload_hash(content, content_type, creds.algorithm)
    mac = _mac(
        "response",
        creds,
        ts=auth.ts,
        nonce=auth.nonce,
        method=method,
        uri=uri,
        host=host,
        port=port,
        hash=response_hash,
        ext=None,
        app=auth.app,
        dlg=auth.dlg,
    )
    header = f'Hawk mac="{mac}"'
    if response_hash:
        header += f', hash="{response_hash}"'
    return header


# --------------------------------------------------------------------------------------------
# Requests (client side)
# --------------------------------------------------------------------------------------------


def _check_header_value(name: str, value: str) -> None:
    try:
        mohawk.util.validate_header_attr(value, name=name)
    except mohawk.exc.BadHeaderValue as exc:
        raise ValueError(f"{name} contains characters a Hawk header cannot carry") from exc


def sign_request(
    creds: Credentials,
    *,
    method: str,
    url: str,
    content: bytes | None = None,
    content_type: str | None = None,
    app: str | None = None,
    ts: int | None = None,
    nonce: str | None = None,
    include_hash: bool = True,
) -> str:
    """The ``Authorization`` header for sending ``method url`` (tests, server-to-server, clients).

    Host and port come from the URL (80/443 by default) and the URI is its raw path and query,
    exactly as given: send the request with ``yarl.URL(url, encoded=True)`` or the bytes on the
    wire will differ from the bytes signed. The payload hash is included when ``include_hash``
    and a body (even an empty one) is given; ``include_hash=False`` mimics clients that omit it.
    """
    uri, host, port = _url_parts(url)
    ts = int(time.time()) if ts is None else ts
    if nonce is None:
        nonce = secrets.token_urlsafe(9)  # URL-safe base64: always a valid header value
    else:
        _check_header_value("nonce", nonce)
    if app is not None:
        _check_header_value("app", app)
    body_hash = None
    if include_hash and content is not None:
        body_hash = payload_hash(content, content_type, creds.algorithm)
    mac = _mac(
        "header",
        creds,
        ts=ts,
        nonce=nonce,
        method=method,
        uri=uri,
        host=host,
        port=port,
        hash=body_hash,
        ext=None,
        app=app,
        dlg=None,
    )
    parts = [f'id="{creds.id}"', f'ts="{ts}"', f'nonce="{nonce}"']
    if body_hash:
        parts.append(f'hash="{body_hash}"')
    parts.append(f'mac="{mac}"')
    if app:
        parts.append(f'app="{app}"')
    return "Hawk " + ", ".join(parts)


def verify_response(
    header: str,
    auth_header: str,
    creds: Credentials,
    *,
    method: str,
    url: str,
    content: bytes | None,
    content_type: str | None,
) -> bool:
    """Check a ``Server-Authorization`` header against the request we sent (``auth_header``).

    Returns False (never raises) for a malformed header, a wrong hash or a wrong MAC, since a
    client decides itself what an unauthenticated answer means. A response hash is checked
    when present; its absence is accepted, mirroring the server's treatment of requests.
    """
    try:
        attrs = _parse_attributes(header)
        request = parse_authorization(auth_header)
        uri, host, port = _url_parts(url)
    except (HawkError, ValueError):
        return False
    mac = attrs.get("mac")
    if not mac:
        return False
    response_hash = attrs.get("hash") or None
    if response_hash is not None and not _same(
        payload_hash(content, content_type, creds.algorithm), response_hash
    ):
        return False
    expected = _mac(
        "response",
        creds,
        ts=request.ts,
        nonce=request.nonce,
        method=method,
        uri=uri,
        host=host,
        port=port,
        hash=response_hash,
        ext=attrs.get("ext"),
        app=request.app,
        dlg=request.dlg,
    )
    return _same(expected, mac)


# --------------------------------------------------------------------------------------------
# Bewits (§4.9)
# --------------------------------------------------------------------------------------------


def _b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url strictly: only ``-``/``_`` alphabet (mohawk's decoder fails here)."""
    if not _BEWIT_RE.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_bewit(creds: Credentials, *, url: str, exp: int, ext: str = "") -> str:
    """A bewit granting GET/HEAD on ``url`` until ``exp`` (seconds since the epoch).

    The MAC is the ``hawk.1.bewit`` normalized string with ts = exp, an empty nonce, method GET
    (HEAD requests verify against GET too), the URL's raw path and query with any existing
    bewit removed, and an empty hash. Encoded as unpadded base64url of ``id\\exp\\mac\\ext``.
    """
    uri, host, port = _url_parts(url)
    uri, _ = strip_bewit(uri)
    mac = _mac(
        "bewit",
        creds,
        ts=exp,
        nonce="",
        method="GET",
        uri=uri,
        host=host,
        port=port,
        hash=None,
        ext=ext,
        app=None,
        dlg=None,
    )
    return _b64url_nopad(f"{creds.id}\\{exp}\\{mac}\\{ext}".encode())


def bewit_url(creds: Credentials, url: str, exp: int) -> str:
    """``url`` with ``bewit=…`` appended as its last query parameter (the form tentd hands out)."""
    separator = "" if url.endswith("?") else "&" if "?" in url else "?"
    return f"{url}{separator}bewit={make_bewit(creds, url=url, exp=exp)}"


def _bewit_parts(bewit: str) -> tuple[str, str, str, str]:
    """(id, exp, mac, ext) of a bewit, decoded by hand: mohawk's parser cannot read Tent's
    unpadded URL-safe bewits."""
    if not bewit:
        raise _fail("Empty bewit")
    try:
        decoded = _b64url_decode(bewit).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _fail("Invalid bewit encoding") from exc
    parts = decoded.split("\\")
    if len(parts) != 4:
        raise _fail("Invalid bewit structure")
    key_id, exp_text, mac, ext = parts
    if not key_id or not exp_text or not mac:
        raise _fail("Missing bewit attributes")
    if not _TS_RE.match(exp_text):
        raise _fail("Invalid bewit structure")
    return key_id, exp_text, mac, ext


def bewit_key_id(bewit: str) -> str | None:
    """The key id a bewit names, when it is well formed (so its credentials can be loaded
    before :func:`verify_bewit`, whose lookup is synchronous); None otherwise."""
    try:
        key_id = _bewit_parts(bewit)[0]
    except HawkError:
        return None
    return key_id if _ID_RE.match(key_id) else None


def verify_bewit(
    bewit: str,
    lookup: Callable[[str], Credentials | None],
    *,
    uri_without_bewit: str,
    host: str,
    port: int,
    now: float,
) -> Credentials:
    """Check a bewit for the request target ``uri_without_bewit`` (from :func:`strip_bewit`).

    Any credentials that may sign a request may sign a bewit (tentd accepts them; npm
    ``hawk.uri.getBewit`` and hawk-go make them so): the caller loads the key of
    :func:`bewit_key_id` first, since ``lookup`` is synchronous. The caller still enforces
    "GET/HEAD only" and "not with an Authorization header". Returns the credentials that
    signed it.
    """
    key_id, exp_text, mac, ext = _bewit_parts(bewit)
    exp = int(exp_text)
    if now > exp:
        raise _fail("Access expired")
    if not _ID_RE.match(key_id):
        raise _fail("Unidentified id")
    creds = lookup(key_id)
    if creds is None:
        raise _fail("Unidentified id")
    expected = _mac(
        "bewit",
        creds,
        ts=exp_text,
        nonce="",
        method="GET",
        uri=uri_without_bewit,
        host=host,
        port=port,
        hash=None,
        ext=ext,
        app=None,
        dlg=None,
    )
    if not _same(expected, mac):
        raise _fail("Invalid mac")
    return creds


def strip_bewit(raw_uri: str) -> tuple[str, str | None]:
    """Split a raw request target into (target without ``bewit``, bewit value or None).

    Every other byte is kept as sent, because the bewit MAC covers the target minus the bewit.
    The ``?`` disappears when bewit was the only parameter. Two bewits make the request
    ambiguous and are refused (403) rather than guessed at.
    """
    path, sep, query = raw_uri.partition("?")
    if not sep:
        return raw_uri, None
    kept: list[str] = []
    found: list[str] = []
    for param in query.split("&"):
        if param.startswith("bewit="):
            found.append(param[len("bewit=") :])
        else:
            kept.append(param)
    if not found:
        return raw_uri, None
    if len(found) > 1:
        raise _fail("Multiple bewits")
    rest = "&".join(kept)
    return (f"{path}?{rest}" if rest else path), found[0]


# --------------------------------------------------------------------------------------------
# Replay protection (D-32)
# --------------------------------------------------------------------------------------------


def nonce_key(key_id: str, nonce: str, ts: int) -> int:
    """A stable signed 64-bit key for (id, nonce, ts), the same in every process (Python's
    `hash` is salted per process). A collision, at 2**-64, would only refuse one request."""
    digest = hashlib.blake2b(f"{key_id}\n{nonce}\n{ts}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
