"""Media types: the post media type with its `type`/`rel` parameters, and Accept negotiation."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

POST = "application/vnd.tent.post.v0+json"
FEED = "application/vnd.tent.posts-feed.v0+json"
VERSIONS = "application/vnd.tent.post-versions.v0+json"
CHILDREN = "application/vnd.tent.post-children.v0+json"
MENTIONS = "application/vnd.tent.post-mentions.v0+json"
ERROR = "application/vnd.tent.error.v0+json"
LIST_TYPES = (VERSIONS, CHILDREN, MENTIONS)

REL_NOTIFICATION = "https://tent.io/rels/notification"
REL_IMPORT = "https://tent.io/rels/import"
REL_META_POST = "https://tent.io/rels/meta-post"
REL_CREDENTIALS = "https://tent.io/rels/credentials"

_PARAM_RE = re.compile(r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)')


@dataclass(frozen=True, slots=True)
class MediaType:
    mime: str  # lower-cased, no parameters
    params: dict[str, str]


def parse_media_type(value: str | None) -> MediaType:
    if not value:
        return MediaType("", {})
    mime, params = _parse_media_type(value)
    return MediaType(mime, dict(params))  # a dict of its own: callers may change it


@functools.lru_cache(maxsize=512)
def _parse_media_type(value: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Remembered: clients send the same few Content-Type and Accept values every time."""
    mime, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for name, raw in _PARAM_RE.findall(";" + rest):
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[name.lower()] = raw
    return mime.strip().lower(), tuple(params.items())


def post_media_type(post_type: str, rel: str | None = None) -> str:
    value = f'{POST}; type="{post_type}"'
    return f'{value}; rel="{rel}"' if rel else value


@functools.lru_cache(maxsize=256)
def _accept_entries(accept: str) -> tuple[tuple[str, float], ...]:
    """Remembered like media types: one request asks for the post, then whether it is HTML."""
    entries = []
    for part in accept.split(","):
        media = parse_media_type(part)
        if not media.mime:
            continue
        try:
            q = float(media.params.get("q", "1"))
        except ValueError:
            q = 0.0
        entries.append((media.mime, q))
    return tuple(entries)


def choose_post_representation(accept: str | None) -> str:
    """Which of post / versions / children / mentions the client asked for (D-22).

    A list media type with q > 0 wins, highest q first; anything else means the post itself.
    """
    if not accept:
        return POST
    best: tuple[float, str] | None = None
    for mime, q in _accept_entries(accept):
        if mime in LIST_TYPES and q > 0 and (best is None or q > best[0]):
            best = (q, mime)
    return best[1] if best else POST


def accept_matches(accept: str | None, content_type: str) -> float:
    """Quality with which `accept` admits `content_type` (0 = not acceptable); missing = */*."""
    if not accept:
        return 1.0
    mime = parse_media_type(content_type).mime
    major = mime.split("/", 1)[0]
    best = 0.0
    for candidate, q in _accept_entries(accept):
        if candidate in ("*/*", mime, f"{major}/*"):
            best = max(best, q)
    return best


HTML_TYPES = ("text/html", "application/xhtml+xml")


def prefers_html(accept: str | None) -> bool:
    """A browser's `Accept` (text/html named, and ranked above anything JSON could match)
    gets a post's HTML page; Tent media types, `*/*` and no `Accept` get JSON (D-22)."""
    if not accept:
        return False
    html_q, json_q = 0.0, 0.0
    for mime, q in _accept_entries(accept):
        if mime in HTML_TYPES:
            html_q = max(html_q, q)
        elif mime in (POST, *LIST_TYPES, "application/json", "application/*", "*/*"):
            json_q = max(json_q, q)
    return html_q > json_q
