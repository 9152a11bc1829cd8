"""Links to follow: `Link` header values (RFC 8288) and HTML `<link>` tags (§1.3, D-81).

The server's discovery, its relationship set-up and the status client all read links with
these functions, so they agree: a `rel` is a space-separated list (`rel="alternate
https://tent.io/rels/meta-post"` matches either), quoted or not, compared without regard to
case; several links may share one header, and a quoted parameter may hold `,` or `;`.
Targets are resolved against `base`, the URL that carried them, when one is given; without
it they stay as written (a bewit's signature covers the URL exactly).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,=\s]+\s*(?:=\s*(?:"[^"]*"|[^;,]*))?\s*)*)')
_PARAM = re.compile(r';\s*([^;,=\s]+)\s*(?:=\s*(?:"([^"]*)"|([^;,\s]*)))?')


@dataclass(frozen=True, slots=True)
class Link:
    target: str
    rels: frozenset[str]  # lower-cased

    def has_rel(self, rel: str) -> bool:
        return rel.lower() in self.rels


def _rels(value: str) -> frozenset[str]:
    return frozenset(value.lower().split())


def parse_link_header(value: str) -> list[Link]:
    """Every link of one `Link` header value, in order."""
    links = []
    for match in _LINK.finditer(value):
        rels: frozenset[str] = frozenset()
        for param in _PARAM.finditer(match.group(2)):
            if param.group(1).lower() == "rel":
                rels |= _rels(param.group(2) if param.group(2) is not None else param.group(3) or "")
        links.append(Link(match.group(1).strip(), rels))
    return links


def _resolved(targets: list[str], base: str | None) -> list[str]:
    return targets if base is None else [urljoin(base, target) for target in targets]


def header_links(values: Iterable[str], rel: str, base: str | None = None) -> list[str]:
    """Targets of the links with `rel` in all `Link` header values (one header may repeat)."""
    targets = [link.target for value in values for link in parse_link_header(value) if link.has_rel(rel)]
    return _resolved(targets, base)


class _LinkTags(HTMLParser):
    def __init__(self, rel: str) -> None:
        super().__init__()
        self.rel = rel.lower()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() != "link":
            return
        values = {k.lower(): v or "" for k, v in attrs}
        if self.rel in _rels(values.get("rel", "")) and values.get("href"):
            self.hrefs.append(values["href"])

    handle_startendtag = handle_starttag


def html_links(page: str, rel: str, base: str | None = None) -> list[str]:
    """The `href`s of an HTML page's `<link>` tags with `rel`; broken HTML keeps what was found."""
    tags = _LinkTags(rel)
    try:
        tags.feed(page)
        tags.close()
    except (AssertionError, ValueError):
        pass
    return _resolved(tags.hrefs, base)
