"""Response shaping shared by every handler: JSON bodies, ETags and 304s, caching headers,
and the typed application keys handlers read their collaborators from (all of them here)."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import quote, unquote_plus

import orjson
import uritemplate
from aiohttp import web

from tent.auth.authenticator import Authenticator
from tent.auth.hawk import Credentials, payload_hash
from tent.config import Settings
from tent.core.errors import NotFound
from tent.core.input_safety import bounded_int, is_url
from tent.core.principal import ANONYMOUS, Principal
from tent.delivery.beacon import TurfVerifier
from tent.delivery.federation import Federation
from tent.delivery.outbox import Outbox
from tent.services.container import Services
from tent.services.publishing import Publisher
from tent.store.auth import AuthStore
from tent.store.blobs import BlobStore
from tent.store.db import Database
from tent.store.federation import FederationStore
from tent.store.posts import PostStore
from tent.store.state import ServerState

SETTINGS = web.AppKey("settings", Settings)
POSTS = web.AppKey("posts", PostStore)
AUTH_STORE = web.AppKey("auth_store", AuthStore)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
SERVER_CREDENTIALS = web.AppKey("server_credentials", Credentials)
PUBLISHER = web.AppKey("publisher", Publisher)
FEDERATION = web.AppKey("federation", Federation)
FEDERATION_STORE = web.AppKey("federation_store", FederationStore)
OUTBOX = web.AppKey("outbox", Outbox)
DATABASE = web.AppKey("database", Database)
STATE = web.AppKey("state", ServerState)
SERVICES = web.AppKey("services", Services)
BLOBS = web.AppKey("blobs", BlobStore)
TURF_VERIFIER = web.AppKey("turf_verifier", TurfVerifier)
PRINCIPAL = web.RequestKey("principal", Principal)
_WITHOUT_HAWK = "_tent_without_hawk"


def without_hawk(handler: Any) -> Any:
    """Marks a handler the principal middleware skips: probes and scrapers (health checks,
    Prometheus) carry no Hawk credentials and must stay cheap. aiohttp's middleware wrappers
    copy the handler's attributes, so the mark is seen."""
    setattr(handler, _WITHOUT_HAWK, True)
    return handler


def is_without_hawk(handler: Any) -> bool:
    return getattr(handler, _WITHOUT_HAWK, False)


def settings_of(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def posts_of(request: web.Request) -> PostStore:
    return request.app[POSTS]


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]


def principal_of(request: web.Request) -> Principal:
    return request.get(PRINCIPAL, ANONYMOUS)


# The Hawk payload hash of a JSON body, kept on the request: the ETag is made of it, and the
# Server-Authorization of a Hawk-signed request (SHA-256 credentials) reuses it (D-93).
BODY_HASH = web.RequestKey("body_hash", tuple)


def json_etag(request: web.Request, body: bytes, content_type: str) -> str:
    """A strong ETag for a JSON body: its SHA-256 payload hash (§4.5), which also covers the
    media type, so one body served under two media types gets two validators."""
    digest = payload_hash(body, content_type)
    request[BODY_HASH] = (body, content_type, digest)
    return '"' + digest + '"'


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag in candidates


def json_response(
    request: web.Request,
    value: Any,
    *,
    content_type: str = "application/json",
    status: int = 200,
    public: bool = False,
    vary_accept: bool = False,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A JSON response with the caching headers of D-18; 304 when If-None-Match matches."""
    body = orjson.dumps(value)
    out = dict(headers or {})
    out["Cache-Control"] = "public, must-revalidate" if public else "private, must-revalidate"
    if vary_accept:
        out["Vary"] = "Accept"
    if request.method in ("GET", "HEAD") and status == 200:
        etag = json_etag(request, body, content_type)
        out["ETag"] = etag
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=out)
    out["Content-Type"] = content_type
    return web.Response(status=status, body=body, headers=out)


def post_url(settings: Settings, entity: str, post_id: str) -> str:
    return uritemplate.expand(f"{settings.root}/posts/{{entity}}/{{post}}", entity=entity, post=post_id)


def attachment_url(settings: Settings, entity: str, digest: str) -> str:
    template = f"{settings.root}/attachments/{{entity}}/{{digest}}"
    return uritemplate.expand(template, entity=entity, digest=digest)


def signed_post_url(settings: Settings, entity: str, post_id: str) -> str:
    """A post URL for bewit links: `:` left unescaped, because HTTP libraries (yarl among
    them) rewrite `%3A` to `:` before sending, which would break a MAC over the raw path."""
    return f"{settings.root}/posts/{quote(entity, safe=':')}/{quote(post_id, safe='')}"


@functools.lru_cache(maxsize=256)
def _entity_of_path(raw: str) -> str:
    """Remembered: paths name the same few entities over and over."""
    return unquote_plus(raw)


def parse_post_path(request: web.Request) -> tuple[str, str]:
    """(entity, post id) from `/posts/{entity}/{post}`, on the raw path (D-05).

    The entity is usually percent-encoded, but an unencoded entity URL (with slashes) is
    accepted too: the post id is the last segment and the entity everything before it.
    """
    prefix = settings_of(request).path_prefix + "/posts/"
    raw = request.raw_path.split("?", 1)[0]
    if not raw.startswith(prefix):
        raise NotFound()
    entity_raw, sep, post_raw = raw[len(prefix) :].rpartition("/")
    if not sep or not entity_raw or not post_raw:
        raise NotFound()
    entity = _entity_of_path(entity_raw)
    post_id = post_raw if "%" not in post_raw and "+" not in post_raw else unquote_plus(post_raw)
    if not is_url(entity):
        raise NotFound()
    return entity, post_id


def query_pairs(request: web.Request) -> list[tuple[str, str]]:
    return list(request.query.items())


def int_param(request: web.Request, name: str) -> int | None:
    """A non-negative integer query parameter that fits PostgreSQL's bigint."""
    raw = request.query.get(name)
    return None if raw is None else bounded_int(name, raw)
