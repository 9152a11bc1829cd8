"""Who is asking, and what they may read and write (docs/protocol.md §5).

Every read path asks the Principal, so adding a new kind of requester means adding a
constructor here, not touching handlers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tent.core.type_uris import APP_AUTH_BASE, APP_BASE, RELATIONSHIP_BASE
from tent.core.types import any_selector_matches, base_version

Kind = Literal["anonymous", "owner", "app", "authorized_app", "peer"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Kind
    read_types: tuple[str, ...] = ()
    write_types: tuple[str, ...] = ()
    scopes: frozenset[str] = field(default_factory=frozenset)
    entity: str | None = None  # a relationship peer's entity
    app: dict[str, Any] | None = None  # {id, name, url} of the calling app, set on its posts
    app_post_id: str | None = None  # for app credentials: the one post they may read and update
    groups: tuple[str, ...] = ()  # a peer's memberships in our groups (group post ids, D-11)

    @property
    def app_level(self) -> bool:
        """Only the owner and authorized apps see server-only members (received_at, app.id)."""
        return self.kind in ("owner", "authorized_app")

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    def has_scope(self, scope: str) -> bool:
        return self.kind == "owner" or scope in self.scopes

    def may_update(self, post: dict[str, Any], new_type: str) -> bool:
        """New versions and deletes: by type, or an app's own registration (same type, §6.6)."""
        if self.kind == "app":
            return post["id"] == self.app_post_id and post["type"] == new_type
        return self.can_write_type(post["type"]) and self.can_write_type(new_type)

    def can_write_type(self, post_type: str) -> bool:
        if self.kind == "owner":
            return True
        if self.kind != "authorized_app":
            return False
        return any_selector_matches(list(self.write_types), post_type)

    def can_read_type(self, post_type: str) -> bool:
        """Write implies read (§5.2)."""
        if self.kind == "owner":
            return True
        if self.kind != "authorized_app":
            return False
        return any_selector_matches(list(self.read_types), post_type) or self.can_write_type(post_type)

    def can_read(self, post: dict[str, Any], own_entity: str) -> bool:
        """May this requester see this stored post version at all?"""
        if self.kind == "owner":
            return True
        if self.kind == "authorized_app":
            return is_public(post) or self.can_read_type(post["type"])
        if post.get("entity") != own_entity:
            return False
        if is_public(post):
            return True
        if self.kind == "app":
            return post["id"] == self.app_post_id
        if self.kind == "peer" and self.entity:
            perms = post.get("permissions") or {}
            if self.entity in perms.get("entities", []):
                return True
            return any(str(g.get("post")) in self.groups for g in perms.get("groups") or [])
        return False

    def feed_visibility(self, own_entity: str) -> Visibility:
        if self.kind == "owner":
            return Visibility()
        if self.kind == "authorized_app":
            private = tuple(self.read_types) + tuple(self.write_types)
            if "all" in private:
                return Visibility()  # reads everything, like the owner: the simplest query
            return Visibility(private_types=private)
        return Visibility(own_entity=own_entity, private_types=(), peer_entity=self.entity,
                          peer_groups=self.groups)


@dataclass(frozen=True, slots=True)
class Visibility:
    """What a list query may return, in a form the store turns into SQL.

    `private_types` None = every private post; () = none; otherwise private posts whose type
    matches one of the selectors. `own_entity` restricts to our own entity's posts.
    `peer_entity` additionally admits private posts whose permissions name that entity.
    """

    own_entity: str | None = None
    private_types: tuple[str, ...] | None = None
    peer_entity: str | None = None
    peer_groups: tuple[str, ...] = ()


OWNER = Principal(
    "owner", read_types=("all",), write_types=("all",), scopes=frozenset({"import", "permissions"})
)
ANONYMOUS = Principal("anonymous")


def is_public(post: dict[str, Any]) -> bool:
    """No permissions, or `public: true`; `{"entities": [...]}` without `public` is private."""
    perms = post.get("permissions")
    if perms is None:
        return True
    return perms.get("public") is True




def principal_for_credentials(target: dict[str, Any] | None, app: dict[str, Any] | None) -> Principal:
    """The requester a credentials post stands for, from the post it mentions (§5.1).

    Credentials that mention nothing usable still authenticate (the response is signed) but
    grant nothing beyond what anonymous requests get.
    """
    if target is None:
        return ANONYMOUS
    base = base_version(target["type"])
    content = target.get("content") or {}
    if base == APP_AUTH_BASE:
        types = content.get("types") or {}
        summary = None
        if app is not None:
            app_content = app.get("content") or {}
            summary = {
                "id": app["id"],
                "name": app_content.get("name", ""),
                "url": app_content.get("url", ""),
            }
        return Principal(
            "authorized_app",
            read_types=tuple(types.get("read") or ()),
            write_types=tuple(types.get("write") or ()),
            scopes=frozenset(content.get("scopes") or ()),
            app=summary,
        )
    if base == APP_BASE:
        return Principal("app", app_post_id=target["id"])
    if base == RELATIONSHIP_BASE:
        mentions = target.get("mentions") or []
        entity = mentions[0].get("entity") if mentions else None
        return Principal("peer", entity=entity) if entity else ANONYMOUS
    return ANONYMOUS
