"""Posts, one row per version, and the queries behind GET post, the lists and the feed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tent.core.feed import FeedQuery, Position
from tent.core.model import Post
from tent.core.principal import Visibility, is_public
from tent.core.types import TypeSelector, parse_type
from tent.store.changes import Change, Changes, change_for_post
from tent.store.db import Database

_SORT_COLUMNS = {
    "received_at": "received_at",
    "published_at": "published_at",
    "version.received_at": "version_received_at",
    "version.published_at": "version_published_at",
}

_INSERT_POST = """
    INSERT INTO posts (entity, post_id, version_id, type, type_base, type_fragment,
                       published_at, received_at, version_published_at, version_received_at,
                       public, latest, latest_public, data)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (entity, post_id, version_id) DO NOTHING
    RETURNING seq"""

# A post with mentions, parents or attachments also fills their tables, in the same statement.
_INSERT = f"""
WITH p AS ({_INSERT_POST}
), m AS (
    INSERT INTO mentions (post_seq, entity, post_id, public)
    SELECT p.seq, x.entity, x.post_id, x.public
    FROM p, unnest($15::text[], $16::text[], $17::bool[]) AS x(entity, post_id, public)
), r AS (
    INSERT INTO parents (post_seq, entity, post_id, version_id)
    SELECT p.seq, y.entity, y.post_id, y.version_id
    FROM p, unnest($18::text[], $19::text[], $20::text[]) AS y(entity, post_id, version_id)
), a AS (
    INSERT INTO post_attachments (post_seq, digest, name, content_type)
    SELECT p.seq, z.digest, z.name, z.content_type
    FROM p, unnest($21::text[], $22::text[], $23::text[]) AS z(digest, name, content_type)
)
SELECT seq FROM p
"""


# The same insert keeping the row's seq, for an import restoring rows exactly; a version
# that is already there is an error, not skipped.
RESTORE_VERSION = (
    _INSERT.replace("INSERT INTO posts (entity,", "INSERT INTO posts (seq, entity,", 1)
    .replace("VALUES ($1,", "VALUES ($24, $1,", 1)
    .replace("ON CONFLICT (entity, post_id, version_id) DO NOTHING", "", 1)
)


def restore_args(post: Post, *, seq: int, latest: bool, latest_public: bool) -> list[Any]:
    return [*_insert_args(post, latest, latest_public), seq]


class Args:
    """Collects query arguments and hands out `$n` placeholders, so SQL is built safely."""

    def __init__(self, *initial: Any) -> None:
        self.values: list[Any] = list(initial)

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


Where = Callable[["Args"], list[str]]


@dataclass(slots=True)
class Page:
    posts: list[Post]
    older_exist: bool


def _insert(post: Post, latest: bool, latest_public: bool) -> tuple[str, list[Any]]:
    """The INSERT for one version and its arguments. Most posts mention, reply to and attach
    nothing: for them the posts row alone, which costs PostgreSQL a fifth less (D-90)."""
    row = _row_args(post, latest, latest_public)
    if post.get("mentions") or post["version"].get("parents") or post.get("attachments"):
        return _INSERT, row + _link_args(post)
    return _INSERT_POST, row


def _insert_args(post: Post, latest: bool, latest_public: bool) -> list[Any]:
    return _row_args(post, latest, latest_public) + _link_args(post)


def _row_args(post: Post, latest: bool, latest_public: bool) -> list[Any]:
    """$1-$14: the posts row."""
    parsed = parse_type(post["type"])
    assert parsed is not None, "validated before storing"
    version = post["version"]
    return [
        post["entity"],
        post["id"],
        version["id"],
        post["type"],
        parsed.base_version,
        parsed.fragment,
        post["published_at"],
        post["received_at"],
        version["published_at"],
        version["received_at"],
        is_public(post),
        latest,
        latest_public,
        post,
    ]


def _link_args(post: Post) -> list[Any]:
    """$15-$23: the mentions, parents and attachment rows, as arrays of columns."""
    mentions = post.get("mentions") or []
    parents = post["version"].get("parents") or []
    attachments = post.get("attachments") or []
    return [
        [m.get("entity") or post["entity"] for m in mentions],
        [m.get("post") for m in mentions],
        [m.get("public") is not False for m in mentions],
        [p.get("entity") or post["entity"] for p in parents],
        [p.get("post") or post["id"] for p in parents],
        [p["version"] for p in parents],
        [a.get("digest", "") for a in attachments],
        [a.get("name", "") for a in attachments],
        [a.get("content_type", "") for a in attachments],
    ]


def _type_condition(selectors: Iterable[TypeSelector | str], arg: Args, alias: str = "p") -> str:
    """SQL matching any of the selectors; `all` matches everything, unparsable ones nothing."""
    parts = []
    for sel in selectors:
        parsed = TypeSelector.parse(sel) if isinstance(sel, str) else sel
        if parsed is None:
            continue
        if parsed.base_version is None:
            return "TRUE"
        if parsed.fragment is None:
            parts.append(f"{alias}.type_base = {arg(parsed.base_version)}")
        else:
            parts.append(
                f"({alias}.type_base = {arg(parsed.base_version)}"
                f" AND {alias}.type_fragment = {arg(parsed.fragment)})"
            )
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


def row_visible(vis: Visibility, arg: Args, alias: str = "p") -> str | None:
    """SQL: may the reader see this version row? None means every row."""
    conds = []
    if vis.own_entity is not None:
        conds.append(f"{alias}.entity = {arg(vis.own_entity)}")
    if vis.private_types is not None:
        private_ok = [_type_condition(vis.private_types, arg, alias)] if vis.private_types else []
        if vis.peer_entity:
            private_ok.append(f"({alias}.data->'permissions'->'entities') ? {arg(vis.peer_entity)}")
        if vis.peer_groups:
            private_ok.append(
                f"EXISTS (SELECT 1 FROM jsonb_array_elements({alias}.data->'permissions'->'groups') g"
                f" WHERE g->>'post' = ANY({arg(list(vis.peer_groups))}::text[]))"
            )
        conds.append(f"({' OR '.join([f'{alias}.public', *private_ok])})")
    return " AND ".join(conds) if conds else None


def _current_version(vis: Visibility, arg: Args) -> list[str]:
    """SQL: is this row the version of its post the reader sees (D-10)?

    The latest version if the reader may see it, else the latest public one. Owners and
    public-only readers get a single indexed flag; others need the latest row's check.
    """
    if vis.private_types is None:
        visible = row_visible(vis, arg)
        return ["p.latest", visible] if visible else ["p.latest"]
    if not vis.private_types and not vis.peer_entity:
        visible = row_visible(vis, arg)
        return ["p.latest_public", visible] if visible else ["p.latest_public"]
    visible_p = row_visible(vis, arg, "p")
    visible_l = row_visible(vis, arg, "l")
    return [
        f"((p.latest AND {visible_p}) OR (p.latest_public AND NOT p.latest AND NOT EXISTS ("
        "SELECT 1 FROM posts l WHERE l.entity = p.entity AND l.post_id = p.post_id"
        f" AND l.latest AND {visible_l})))"
    ]


def _visibility_condition(vis: Visibility, arg: Args) -> list[str]:
    visible = row_visible(vis, arg)
    return [visible] if visible else []


def _position_condition(column: str, pos: Position, op: str, arg: Args) -> str:
    if pos.version is None:
        return f"p.{column} {op} {arg(pos.ts)}"
    return f"(p.{column}, p.version_id) {op} ({arg(pos.ts)}, {arg(pos.version)})"


class PostStore:
    def __init__(self, db: Database, changes: Changes | None = None) -> None:
        self.db = db
        self.changes = changes or Changes(db)

    async def _changed(self, post_type: str) -> None:
        """In the write's unit of work: tell every process's caches (credentials, subscribers,
        webhook apps) that a post of this type was stored, or something deleted (type "")."""
        change = change_for_post(post_type) if post_type else Change.DELETE
        if change is not None:
            await self.changes.announce(change)

    # -- writing -----------------------------------------------------------------------

    async def create(self, post: Post) -> bool:
        """Store the first version of a new post; False if that exact version existed."""
        sql, args = _insert(post, True, is_public(post))
        if change_for_post(post["type"]) is None:  # nothing to announce: one statement
            return await self.db.conn.fetchval(sql, *args) is not None
        async with self.db.transaction() as conn:
            stored = await conn.fetchval(sql, *args) is not None
            if stored:
                await self._changed(post["type"])
            return stored

    async def add_version(self, post: Post) -> bool:
        """Store a version of a post that may already have others; keeps `latest` right.

        The latest version is the one with the greatest (version.received_at, version id).
        """
        async with self.db.transaction() as conn:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1 || ' ' || $2))", post["entity"], post["id"]
            )
            rows = await conn.fetch(
                "SELECT seq, version_received_at, version_id, latest, latest_public FROM posts"
                " WHERE entity = $1 AND post_id = $2 AND (latest OR latest_public)",
                post["entity"],
                post["id"],
            )
            key = (post["version"]["received_at"], post["version"]["id"])
            latest = next((r for r in rows if r["latest"]), None)
            latest_public = next((r for r in rows if r["latest_public"]), None)
            newest = latest is None or key > (latest["version_received_at"], latest["version_id"])
            newest_public = is_public(post) and (
                latest_public is None
                or key > (latest_public["version_received_at"], latest_public["version_id"])
            )
            sql, args = _insert(post, newest, newest_public)
            seq = await conn.fetchval(sql, *args)
            if seq is None:
                return False
            if newest and latest is not None:
                await conn.execute("UPDATE posts SET latest = false WHERE seq = $1", latest["seq"])
            if newest_public and latest_public is not None:
                await conn.execute(
                    "UPDATE posts SET latest_public = false WHERE seq = $1", latest_public["seq"]
                )
            await self._changed(post["type"])
            return True

    async def delete_post(self, entity: str, post_id: str) -> int:
        async with self.db.transaction() as conn:
            await self._changed("")
            sql = "DELETE FROM posts WHERE entity = $1 AND post_id = $2"
            return _count(await conn.execute(sql, entity, post_id))

    async def delete_version(self, entity: str, post_id: str, version: str) -> int:
        async with self.db.transaction() as conn:
            await self._changed("")
            flags = await conn.fetchrow(
                "DELETE FROM posts WHERE entity = $1 AND post_id = $2 AND version_id = $3"
                " RETURNING latest, latest_public",
                entity,
                post_id,
                version,
            )
            if flags is None:
                return 0
            for flag, only_public in (("latest", ""), ("latest_public", " AND public")):
                if flags[flag]:
                    await conn.execute(
                        f"UPDATE posts SET {flag} = true WHERE seq = (SELECT seq FROM posts"
                        f" WHERE entity = $1 AND post_id = $2{only_public}"
                        " ORDER BY version_received_at DESC, version_id DESC LIMIT 1)",
                        entity,
                        post_id,
                    )
            return 1

    # -- reading one post --------------------------------------------------------------

    async def get(self, entity: str, post_id: str, version: str | None = None) -> Post | None:
        if version is None:
            return await self.db.conn.fetchval(
                "SELECT data FROM posts WHERE entity = $1 AND post_id = $2 AND latest", entity, post_id
            )
        return await self.db.conn.fetchval(
            "SELECT data FROM posts WHERE entity = $1 AND post_id = $2 AND version_id = $3",
            entity,
            post_id,
            version,
        )

    async def latest_of_type(self, entity: str, post_type: str) -> Post | None:
        """Through the `feed_types` index (type base and fragment): on `type` alone this was a
        scan of every post, at each start and each discovery request (34 ms at 100,000 posts,
        D-86)."""
        parsed = parse_type(post_type)
        if parsed is None:
            return None
        return await self.db.conn.fetchval(
            "SELECT data FROM posts WHERE type_base = $2 AND type_fragment = $3 AND latest"
            " AND entity = $1 AND type = $4 ORDER BY received_at DESC LIMIT 1",
            entity,
            parsed.base_version,
            parsed.fragment,
            post_type,
        )

    async def get_many(self, keys: Iterable[tuple[str, str]], vis: Visibility) -> list[Post]:
        """Every visible version of the given (entity, post id) pairs, newest first."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return []
        arg = Args([k[0] for k in keys], [k[1] for k in keys])
        conds = _visibility_condition(vis, arg)
        where = " AND ".join(
            ["(p.entity, p.post_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))", *conds]
        )
        rows = await self.db.conn.fetch(
            f"SELECT p.data FROM posts p WHERE {where}"
            " ORDER BY p.version_received_at DESC, p.version_id DESC",
            *arg.values,
        )
        return [r["data"] for r in rows]

    # -- lists and the feed ------------------------------------------------------------

    def feed(self, query: FeedQuery, vis: Visibility, *, private_mentions: bool) -> Listing:
        def where(arg: Args) -> list[str]:
            return [*_current_version(vis, arg), *self._filters(query, arg, private_mentions)]

        return Listing(self.db, where, query)

    def versions(self, entity: str, post_id: str, query: FeedQuery, vis: Visibility) -> Listing:
        def where(arg: Args) -> list[str]:
            return [
                f"p.entity = {arg(entity)}",
                f"p.post_id = {arg(post_id)}",
                *_visibility_condition(vis, arg),
            ]

        return Listing(self.db, where, query)

    def children(self, entity: str, post_id: str, version: str, query: FeedQuery, vis: Visibility) -> Listing:
        def where(arg: Args) -> list[str]:
            return [
                "EXISTS (SELECT 1 FROM parents x WHERE x.post_seq = p.seq"
                f" AND x.entity = {arg(entity)} AND x.post_id = {arg(post_id)}"
                f" AND x.version_id = {arg(version)})",
                *_visibility_condition(vis, arg),
            ]

        return Listing(self.db, where, query)

    def mentioning(
        self, entity: str, post_id: str, query: FeedQuery, vis: Visibility, *, private_mentions: bool
    ) -> Listing:
        public_only = "" if private_mentions else " AND m.public"

        def where(arg: Args) -> list[str]:
            return [
                *_current_version(vis, arg),
                "EXISTS (SELECT 1 FROM mentions m WHERE m.post_seq = p.seq"
                f" AND m.entity = {arg(entity)} AND m.post_id = {arg(post_id)}{public_only})",
            ]

        return Listing(self.db, where, query)

    # -- query building ----------------------------------------------------------------

    @staticmethod
    def _filters(query: FeedQuery, arg: Args, private_mentions: bool) -> list[str]:
        conds = []
        if query.types:
            conds.append(_type_condition(query.types, arg))
        if query.entities:
            conds.append(f"p.entity = ANY({arg(list(query.entities))}::text[])")
        public_only = "" if private_mentions else " AND m.public"
        for group in query.mentions:
            options = []
            for sel in group:
                if sel.post is None:
                    options.append(f"m.entity = {arg(sel.entity)}")
                else:
                    options.append(f"(m.entity = {arg(sel.entity)} AND m.post_id = {arg(sel.post)})")
            conds.append(
                "EXISTS (SELECT 1 FROM mentions m WHERE m.post_seq = p.seq"
                f"{public_only} AND ({' OR '.join(options)}))"
            )
        return conds


class Listing:
    """One list query (the feed, a post's versions, children or mentions): its page, or how
    many rows match in all; two typed answers instead of one method returning either."""

    __slots__ = ("db", "query", "where")

    def __init__(self, db: Database, where: Where, query: FeedQuery) -> None:
        self.db = db
        self.where = where
        self.query = query

    def _positions(self, arg: Args) -> list[str]:
        query = self.query
        column = _SORT_COLUMNS[query.sort_by]
        conds = []
        if query.before is not None:
            conds.append(_position_condition(column, query.before, "<", arg))
        for pos in (query.since, query.until):
            if pos is not None:
                conds.append(_position_condition(column, pos, ">", arg))
        return conds

    async def count(self) -> int:
        """How many rows match in all (HEAD's `Count`), whatever the page size."""
        arg = Args()
        conds = self.where(arg) + self._positions(arg)
        return await self.db.conn.fetchval(
            f"SELECT count(*) FROM posts p WHERE {' AND '.join(conds)}", *arg.values
        )

    async def page(self) -> Page:
        """A page of the matching rows, newest first."""
        query, where = self.query, self.where
        column = _SORT_COLUMNS[query.sort_by]
        arg = Args()
        conds = where(arg) + self._positions(arg)
        if query.limit == 0:
            return Page([], False)
        direction = "ASC" if query.ascending else "DESC"
        rows = await self.db.conn.fetch(
            f"SELECT p.data, p.{column} AS sort_ts, p.version_id FROM posts p"
            f" WHERE {' AND '.join(conds)}"
            f" ORDER BY p.{column} {direction}, p.version_id {direction}"
            f" LIMIT {query.limit + 1}",
            *arg.values,
        )
        if not query.ascending:
            return Page([r["data"] for r in rows[: query.limit]], len(rows) > query.limit)
        # A `since` page was read oldest first; whether older posts exist needs a probe.
        rows = list(reversed(rows[: query.limit]))
        if not rows or query.since == Position(0):
            return Page([r["data"] for r in rows], False)
        oldest = rows[-1]
        probe = Args()
        probe_conds = where(probe)
        if query.before is not None:
            probe_conds.append(_position_condition(column, query.before, "<", probe))
        probe_conds.append(
            _position_condition(column, Position(oldest["sort_ts"], oldest["version_id"]), "<", probe)
        )
        older = await self.db.conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM posts p WHERE {' AND '.join(probe_conds)})", *probe.values
        )
        return Page([r["data"] for r in rows], bool(older))


def _count(status: str) -> int:
    """asyncpg returns the command tag, e.g. 'DELETE 3'."""
    return int(status.rsplit(" ", 1)[-1])
