"""posts_feed and list parameters, and their `pages` links (docs/protocol.md §3.6, D-25, D-28, D-54).

Pagination is keyset pagination on (sort timestamp, version id): a link names the boundary
post, so walking `next` never skips or repeats a post even when new posts arrive meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from tent.core.errors import TentError
from tent.core.input_safety import MAX_TIMESTAMP
from tent.core.types import TypeSelector

DEFAULT_LIMIT = 25
MAX_LIMIT = 200
MAX_REFS = 5
SORT_KEYS = ("received_at", "published_at", "version.received_at", "version.published_at")
PROFILE_KINDS = ("entity", "mentions", "refs", "parents", "permissions")
POSITION_PARAMS = ("before", "since", "until")


@dataclass(frozen=True, slots=True)
class Position:
    """A point in the ordering: timestamp alone, or timestamp plus version id (tie-break)."""

    ts: int
    version: str | None = None

    def token(self) -> str:
        return f"{self.ts} {self.version}" if self.version else str(self.ts)


@dataclass(frozen=True, slots=True)
class MentionSelector:
    entity: str
    post: str | None = None


@dataclass(frozen=True, slots=True)
class FeedQuery:
    limit: int = DEFAULT_LIMIT
    sort_by: str = "received_at"
    before: Position | None = None
    since: Position | None = None
    until: Position | None = None
    types: tuple[TypeSelector, ...] = ()
    entities: tuple[str, ...] = ()
    mentions: tuple[tuple[MentionSelector, ...], ...] = ()  # AND of ORs
    max_refs: int = 0
    profiles: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = field(default=())  # the request's, for links

    @property
    def ascending(self) -> bool:
        """`since` pages hold the posts nearest the point, so they are fetched oldest first."""
        return self.since is not None


def _int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise TentError(f"Invalid {name}: must be a non-negative integer") from None
    if value < 0:
        raise TentError(f"Invalid {name}: must be a non-negative integer")
    return value


def parse_position(name: str, raw: str) -> Position:
    ts_raw, _, version = raw.strip().partition(" ")
    try:
        ts = int(ts_raw)
    except ValueError:
        raise TentError(f"Invalid {name}: expected '<timestamp>' or '<timestamp> <version>'") from None
    if not 0 <= ts <= MAX_TIMESTAMP:
        raise TentError(f"Invalid {name}: the timestamp must be between 0 and {MAX_TIMESTAMP} (ms)")
    version = version.strip()
    if version and (" " in version or len(version) > 200):
        raise TentError(f"Invalid {name}: expected '<timestamp>' or '<timestamp> <version>'")
    return Position(ts, version or None)


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _by_name(params: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """The parameters grouped by name in one pass (scanning the list once per name read, a
    dozen of them, cost more than parsing them)."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    return grouped


def _single(grouped: dict[str, list[str]], name: str) -> str | None:
    values = grouped.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise TentError(f"Parameter {name} given more than once")
    return values[0]


def parse_profiles(raw: str | None) -> tuple[str, ...]:
    """The `profiles` parameter: a comma list of specifiers (§3.2)."""
    kinds = tuple(_split(raw or ""))
    for kind in kinds:
        if kind not in PROFILE_KINDS:
            raise TentError(f"Invalid profiles: must be among {', '.join(PROFILE_KINDS)}")
    return kinds


def parse_feed_query(params: Sequence[tuple[str, str]], *, app_level: bool) -> FeedQuery:
    """Parse the feed's query string; bad values are 400s, never silently ignored (D-54)."""
    grouped = _by_name(params)
    raw_limit = _single(grouped, "limit")
    limit = DEFAULT_LIMIT if raw_limit is None else _int("limit", raw_limit)
    sort_by = _single(grouped, "sort_by") or "received_at"
    if sort_by not in SORT_KEYS:
        raise TentError(f"Invalid sort_by: must be one of {', '.join(SORT_KEYS)}")
    positions = {}
    for name in POSITION_PARAMS:
        raw = _single(grouped, name)
        positions[name] = parse_position(name, raw) if raw is not None else None
    if positions["since"] is not None and positions["until"] is not None:
        raise TentError("since and until cannot be combined")

    types: list[TypeSelector] = []
    for raw in grouped.get("types", ()):
        for selector in _split(raw):
            parsed = TypeSelector.parse(selector)
            if parsed is None:
                raise TentError(f"Invalid type in types: {selector}")
            if parsed.base_version is not None:
                types.append(parsed)
            else:
                types.clear()  # `all` selects everything
                break
    entities: list[str] = []
    for raw in grouped.get("entities", ()):
        entities.extend(_split(raw))
    mentions = []
    for raw in grouped.get("mentions", ()):
        group = []
        for item in _split(raw):
            entity, _, post = item.partition(" ")
            group.append(MentionSelector(entity, post.strip() or None))
        if group:
            mentions.append(tuple(group))

    max_refs = 0
    raw_refs = _single(grouped, "max_refs")
    if raw_refs is not None:
        max_refs = min(_int("max_refs", raw_refs), MAX_REFS) if app_level else 0
    limit = min(limit, MAX_LIMIT)
    if max_refs:
        limit = min(limit, MAX_LIMIT // max_refs)
    profiles = parse_profiles(_single(grouped, "profiles"))
    return FeedQuery(
        limit=limit,
        sort_by=sort_by,
        types=tuple(types),
        entities=tuple(entities),
        mentions=tuple(mentions),
        max_refs=max_refs,
        profiles=profiles if app_level else (),
        params=tuple(params),
        **positions,
    )


def sort_value(post: dict[str, Any], sort_by: str) -> int:
    """The post's timestamp for `sort_by`. Servers show `received_at` only to some readers, so
    a post fetched from another server without it is placed by `published_at` (as tentd does)."""
    if sort_by.startswith("version."):
        version = post["version"]
        return int(version.get(sort_by.split(".", 1)[1], version["published_at"]))
    return int(post.get(sort_by, post["published_at"]))


def sortable(post: Any, sort_by: str) -> bool:
    """Whether a post fetched from another server can be placed in our ordering."""
    if not isinstance(post, dict) or not isinstance(post.get("version"), dict):
        return False
    if not isinstance(post["version"].get("id"), str):
        return False
    try:
        sort_value(post, sort_by)
    except (KeyError, TypeError, ValueError):
        return False
    return True


def merge_pages(
    query: FeedQuery, pages: Sequence[tuple[Sequence[dict[str, Any]], bool]]
) -> tuple[list[dict[str, Any]], bool]:
    """One feed page from several sources' pages (ours and other servers', §8): each is a
    page for the same query, newest first, with whether older posts exist there.

    D-48: merged newest first by (sort key, version id), like a local page, then cut to
    `limit`: the newest posts, or for a `since` page the ones nearest the point. Returns the
    page and whether older posts exist in any source.
    """
    seen: set[tuple[Any, Any]] = set()
    merged: list[dict[str, Any]] = []
    for posts, _ in pages:
        for post in posts:
            key = (post.get("entity"), post.get("id"))
            if key not in seen:
                seen.add(key)
                merged.append(post)
    merged.sort(key=lambda p: (sort_value(p, query.sort_by), p["version"]["id"]), reverse=True)
    older = any(more for _, more in pages)
    if query.ascending:
        return (merged[-query.limit :] if query.limit else []), older
    return merged[: query.limit], older or len(merged) > query.limit


_FORM_SAFE = re.compile(r"[A-Za-z0-9_.~ -]*")


def _form_quote(text: str) -> str:
    """quote_plus, without its cost for the usual text: names, timestamps and version ids
    are unreserved characters and spaces already."""
    return text.replace(" ", "+") if _FORM_SAFE.fullmatch(text) else quote_plus(text)


def _query_string(params: Iterable[tuple[str, str]]) -> str:
    """Parameters sorted by name (repeats keep their order), form-encoded (space -> `+`)."""
    ordered = sorted(params, key=lambda kv: kv[0])
    return "?" + "&".join(f"{_form_quote(k)}={_form_quote(v)}" for k, v in ordered)


def page_links(
    query: FeedQuery,
    posts: Sequence[dict[str, Any]],
    *,
    older_exist: bool,
    sort_by: str | None = None,
) -> dict[str, str]:
    """first/prev/next/last as query strings, following tentd's rules (§3.6 "Pages").

    `posts` is the page, newest first; `older_exist` says whether posts older than the last
    one match the same filters.
    """
    if not posts:
        return {}
    key = sort_by or query.sort_by
    kept = [(k, v) for k, v in query.params if k not in POSITION_PARAMS]
    newest, oldest = posts[0], posts[-1]
    first_pos = Position(sort_value(newest, key), newest["version"]["id"]).token()
    last_pos = Position(sort_value(oldest, key), oldest["version"]["id"]).token()
    links: dict[str, str] = {}
    if query.before is not None or query.since is not None:
        links["first"] = _query_string([*kept, ("until", first_pos)])
        links["prev"] = _query_string([*kept, ("since", first_pos)])
    if older_exist:
        links["next"] = _query_string([*kept, ("before", last_pos)])
        links["last"] = _query_string([*kept, ("before", last_pos), ("since", "0")])
    return links
