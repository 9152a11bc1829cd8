"""Discovery (docs/protocol.md §1.3): from an entity URL to its meta post and servers.

HEAD first (cheap, and the header form is the preferred one), then GET for servers that only
put the link in the HTML head or only answer GET; relative links are resolved against the URL
that carried them; the first candidate yielding a valid meta post for *this* entity wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from tent.client.session import POST_MEDIA_TYPE, ClientError, TentSession, ordered_servers
from tent.core.media import REL_META_POST
from tent.core.type_uris import META_TYPE

META_ACCEPT = f'{POST_MEDIA_TYPE}; type="{META_TYPE}"'

_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,=\s]+\s*(?:=\s*(?:"[^"]*"|[^;,]*))?\s*)*)')
_PARAM = re.compile(r';\s*([^;,=\s]+)\s*(?:=\s*(?:"([^"]*)"|([^;,\s]*)))?')


@dataclass(frozen=True)
class Meta:
    """The entity as its meta post describes it; ``servers`` ordered by preference."""

    entity: str
    post: dict[str, Any]
    servers: list[dict[str, Any]]


def check_entity_url(entity: str) -> str:
    """An entity is an http(s) URL without query or fragment (§1.1); say so early."""
    parts = urlsplit(entity.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ClientError(f"{entity!r} is not an entity URL (like https://alice.example.com)")
    return entity.strip()


def parse_link_header(value: str) -> list[tuple[str, set[str]]]:
    """RFC 5988 ``Link`` values: (target, rels) pairs; several links may share one header."""
    links = []
    for match in _LINK.finditer(value):
        rels: set[str] = set()
        for param in _PARAM.finditer(match.group(2)):
            if param.group(1).lower() == "rel":
                rels.update((param.group(2) if param.group(2) is not None else param.group(3) or "").split())
        links.append((match.group(1).strip(), rels))
    return links


class _LinkFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() != "link":
            return
        values = {k.lower(): v or "" for k, v in attrs}
        if REL_META_POST in values.get("rel", "").split() and values.get("href"):
            self.hrefs.append(values["href"])

    handle_startendtag = handle_starttag


def html_meta_links(page: str) -> list[str]:
    finder = _LinkFinder()
    try:
        finder.feed(page)
        finder.close()
    except (AssertionError, ValueError):  # very broken HTML: keep what was found
        pass
    return finder.hrefs


def _header_links(headers: Any, base: str) -> list[str]:
    found = []
    for value in headers.getall("Link", []):
        for target, rels in parse_link_header(value):
            if REL_META_POST in rels:
                found.append(urljoin(base, target))
    return found


async def _probe(http: aiohttp.ClientSession, method: str, entity: str) -> list[str]:
    try:
        async with http.request(method, entity, allow_redirects=True,
                                headers={"Accept": "text/html, */*;q=0.5"}) as resp:
            base = str(resp.url)
            links = _header_links(resp.headers, base)
            if method == "GET" and not links and resp.status < 400 and \
                    resp.headers.get("Content-Type", "").lower().startswith("text/html"):
                text = await resp.text(errors="replace")
                links = [urljoin(base, href) for href in html_meta_links(text)]
            return links
    except (aiohttp.ClientError, TimeoutError, OSError, UnicodeError, ValueError) as exc:
        raise ClientError(f"cannot reach {entity}: {str(exc) or type(exc).__name__}") from None


def check_meta(post: Any, entity: str) -> list[dict[str, Any]] | None:
    """The servers of a meta post that describes ``entity``, or None if it does not (§1.3 step 4)."""
    if not isinstance(post, dict):
        return None
    post_type = post.get("type")
    if not isinstance(post_type, str) or post_type.split("#", 1)[0].rsplit("/v", 1)[0] != \
            "https://tent.io/types/meta":
        return None
    content = post.get("content")
    if not isinstance(content, dict) or content.get("entity") != entity:
        return None
    servers = ordered_servers(content.get("servers") or [])
    return servers or None


async def discover(http: aiohttp.ClientSession, entity: str) -> Meta:
    """Find and check the meta post of ``entity``; raises ClientError when discovery fails."""
    entity = check_entity_url(entity)
    links = await _probe(http, "HEAD", entity)
    if not links:
        links = await _probe(http, "GET", entity)
    if not links:
        raise ClientError(f"{entity} does not link to a Tent meta post (no {REL_META_POST} link)")
    anonymous = TentSession(http)
    problems = []
    for url in dict.fromkeys(links):  # ordered, without duplicates
        try:
            reply = await anonymous.fetch("GET", url, accept=META_ACCEPT, sign=False, allow_redirects=True)
            body = reply.json()
        except ClientError as exc:
            problems.append(str(exc))
            continue
        post = body.get("post") if isinstance(body, dict) else None
        servers = check_meta(post, entity)
        if servers is None and isinstance(post, dict) and entity.endswith("/"):
            servers = check_meta(post, entity.rstrip("/"))  # a typed trailing slash is not a new entity
            entity = entity.rstrip("/") if servers else entity
        if servers is not None and isinstance(post, dict):
            return Meta(entity, post, servers)
        problems.append(f"{url} is not a meta post of {entity} with servers")
    raise ClientError(f"discovery of {entity} failed: " + "; ".join(problems))
