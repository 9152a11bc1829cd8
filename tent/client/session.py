"""HTTP to a Tent server as an app: Hawk signing, server fallback, response checks, errors.

Every request goes through :meth:`TentSession.fetch`, so the protocol's rules live in one place:

- URLs are sent exactly as signed. yarl would rewrite ``%3A`` to ``:`` in a path (the ``post``
  template puts a percent-encoded entity URL there), which changes the bytes the server MACs;
  hence ``yarl.URL(url, encoded=True)`` both when signing and when sending.
- A signed request's answer must carry a valid ``Server-Authorization`` when it carries one at
  all (§4.8): a mismatch means the answer was not produced for our request by a holder of the
  key, so it is refused rather than trusted.
- A stale-timestamp 401 with a verifiable ``tsm`` (§4.7) lets us correct the clock once and retry.
- Servers are tried by preference; connection errors and 5xx move on to the next (§1.4).
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import mohawk.util
from multidict import CIMultiDictProxy
from yarl import URL

from tent.auth.hawk import Credentials, sign_request, verify_response

POST_MEDIA_TYPE = "application/vnd.tent.post.v0+json"
FEED_MEDIA_TYPE = "application/vnd.tent.posts-feed.v0+json"
USER_AGENT = "tent-status/0.1 (Tent v0.3 command-line client)"
REVOKED = "this app's access was revoked: run `tent status login` again"
# A command-line client should never hang forever on a dead server, nor give up on a slow one.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


class ClientError(Exception):
    """An expected failure, shown to the user as ``error: <message> (HTTP <status>)``.

    ``status`` is the HTTP status when a server answered, None for local or network problems.
    """

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status is not None else self.message


@dataclass(frozen=True)
class Reply:
    """A fully read response: the body is read inside the request so connections are freed."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise ClientError(f"the server sent something that is not JSON from {self.url}",
                              self.status) from None


def expand(template: str, **values: str) -> str:
    """RFC 6570 level 1: every ``{var}`` becomes its value with all reserved characters
    percent-encoded (``http://a`` -> ``http%3A%2F%2Fa``), as the meta post's templates expect."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ClientError(f"the server's URL template {template!r} needs {name!r}")
        return quote(values[name], safe="")

    return re.sub(r"\{([^{}]+)\}", replace, template)


def with_query(url: str, params: Sequence[tuple[str, str]] | None) -> str:
    """Append form-encoded parameters; form encoding is what Tent servers decode (§0.2)."""
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(list(params))


def ordered_servers(servers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Servers by ascending ``preference``, shuffled among equals (§1.4 "Choosing a server")."""
    usable = [dict(s) for s in servers if isinstance(s, Mapping) and isinstance(s.get("urls"), Mapping)]
    random.shuffle(usable)  # stable sort below keeps this order among equal preferences
    return sorted(usable, key=lambda s: p if isinstance(p := s.get("preference"), int) else 1 << 30)


def error_message(reply: Reply) -> str:
    """The server's ``{"error": ...}`` text, or the HTTP reason when the body has none."""
    try:
        body = json.loads(reply.body) if reply.body else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]:
        return body["error"]
    return f"{_REASONS.get(reply.status, 'request failed')} at {reply.url}"


_REASONS = {400: "bad request", 401: "not authenticated", 403: "not allowed", 404: "not found",
            409: "conflict", 413: "too large", 415: "unsupported media type", 500: "server error",
            502: "bad gateway", 503: "service unavailable", 504: "gateway timeout"}


@contextlib.asynccontextmanager
async def http_session(
    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
) -> AsyncIterator[aiohttp.ClientSession]:
    """One aiohttp session per command, with timeouts and without cookies (Hawk needs none)."""
    async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT},
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        yield http


class TentSession:
    """Requests to one entity's servers, signed with ``creds`` (unsigned when None)."""

    def __init__(self, http: aiohttp.ClientSession, servers: Sequence[Mapping[str, Any]] = (),
                 creds: Credentials | None = None, app_id: str | None = None) -> None:
        self.http = http
        self.servers = ordered_servers(servers)
        self.creds = creds
        self.app_id = app_id
        self.clock_offset = 0  # seconds to add to our clock, learnt from a stale-timestamp 401

    def signed_as(self, creds: Credentials | None, app_id: str | None = None) -> TentSession:
        """The same servers and connection pool, other credentials (app creds vs token)."""
        other = TentSession(self.http, (), creds, app_id if app_id is not None else self.app_id)
        other.servers = self.servers
        return other

    def endpoint(self, name: str, server: Mapping[str, Any] | None = None) -> str:
        server = server or (self.servers[0] if self.servers else None)
        url = server.get("urls", {}).get(name) if server else None
        if not isinstance(url, str) or not url:
            raise ClientError(f"the server lists no {name!r} endpoint in its meta post")
        return url

    async def call(self, method: str, name: str, *, variables: Mapping[str, str] | None = None,
                   query: Sequence[tuple[str, str]] | None = None, raw_query: str | None = None,
                   **kwargs: Any) -> Reply:
        """``method`` on the endpoint ``name`` of the meta post, trying servers by preference.

        Connection failures and 5xx answers move on to the next server; the last failure is
        what the user sees. ``raw_query`` is a ``?…`` string from the server (``pages``) that is
        sent exactly as received.
        """
        if not self.servers:
            raise ClientError("no servers known for this entity; run `tent status login` again")
        last: ClientError | None = None
        for server in self.servers:
            url = expand(self.endpoint(name, server), **(variables or {}))
            if raw_query:
                url = url.split("?", 1)[0] + "?" + raw_query.lstrip("?")
            url = with_query(url, query)
            try:
                reply = await self.fetch(method, url, check=False, **kwargs)
            except ClientError as exc:
                if exc.status is not None:
                    raise
                last = exc
                continue
            if reply.status >= 500 and server is not self.servers[-1]:
                last = ClientError(error_message(reply), reply.status)
                continue
            return _checked(reply)
        assert last is not None
        raise last

    async def fetch(self, method: str, url: str, *, body: bytes | None = None,
                    content_type: str | None = None, accept: str | None = None,
                    headers: Mapping[str, str] | None = None, sign: bool = True,
                    allow_redirects: bool = False, check: bool = True) -> Reply:
        """One request to an absolute URL, sent byte for byte as given (and as signed)."""
        for attempt in range(2):
            send_headers = dict(headers or {})
            if content_type:
                send_headers["Content-Type"] = content_type
            if accept:
                send_headers["Accept"] = accept
            auth = None
            if sign and self.creds is not None:
                try:
                    auth = sign_request(self.creds, method=method, url=url, content=body,
                                        content_type=content_type, app=self.app_id,
                                        ts=int(time.time()) + self.clock_offset)
                except ValueError as exc:
                    raise ClientError(f"cannot sign a request to {url}: {exc}") from None
                send_headers["Authorization"] = auth
            try:
                async with self.http.request(method, URL(url, encoded=True), data=body,
                                             headers=send_headers,
                                             allow_redirects=allow_redirects) as resp:
                    raw = await resp.read()
                    reply = Reply(resp.status, resp.headers, raw, str(resp.url))
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                detail = str(exc) or type(exc).__name__
                raise ClientError(f"cannot reach {_origin(url)}: {detail}") from None
            if auth is not None and attempt == 0 and self._learn_clock(reply):
                continue  # our clock was off; retry once with the server's time
            if auth is not None:
                self._check_signature(reply, auth, method, url)
                if reply.status in (401, 403) and "Unidentified id" in error_message(reply):
                    raise ClientError(REVOKED)
            return _checked(reply) if check else reply
        raise AssertionError("unreachable")

    def _check_signature(self, reply: Reply, auth: str, method: str, url: str) -> None:
        header = reply.headers.get("Server-Authorization")
        if header is None or self.creds is None:
            return
        ok = verify_response(header, auth, self.creds, method=method, url=url,
                             content=reply.body or None, content_type=reply.headers.get("Content-Type"))
        if not ok:
            raise ClientError(f"the answer from {_origin(url)} has a Server-Authorization that does not "
                              "match our request; refusing to trust it", reply.status)

    def _learn_clock(self, reply: Reply) -> bool:
        """On a 401 whose ``WWW-Authenticate`` carries a ``tsm`` made with our key, adopt the
        server's time (§4.7). An unverifiable time is ignored: anyone could send one."""
        header = reply.headers.get("WWW-Authenticate", "")
        if reply.status != 401 or self.creds is None or not header.lower().startswith("hawk"):
            return False
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', header))
        ts, tsm = attrs.get("ts", ""), attrs.get("tsm", "")
        if not ts.isdigit() or not tsm:
            return False
        creds = {"id": self.creds.id, "key": self.creds.key, "algorithm": self.creds.algorithm}
        expected = mohawk.util.calculate_ts_mac(int(ts), creds).decode("ascii")
        if expected != tsm:
            return False
        self.clock_offset = int(ts) - int(time.time())
        return True


def _checked(reply: Reply) -> Reply:
    if reply.status >= 400:
        raise ClientError(error_message(reply), reply.status, reply.body)
    return reply


def _origin(url: str) -> str:
    try:
        u = URL(url, encoded=True)
        return f"{u.scheme}://{u.raw_authority}"
    except ValueError:
        return url


def post_content_type(post_type: str) -> str:
    """new_post wants the post's exact type as a media type parameter (§3.1)."""
    return f'{POST_MEDIA_TYPE}; type="{post_type}"'


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
