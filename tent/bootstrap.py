"""Posts the server makes for itself: the meta post (discovery) and the owner's app.

Both are idempotent, so `tent serve` and `tent credentials` can call them on every start.
"""

from __future__ import annotations

import secrets
from typing import Any

from tent.config import Settings
from tent.core.beacon import public_keys
from tent.core.posts import build_new_post, build_new_version, new_id, now_ms
from tent.core.type_uris import META_TYPE
from tent.keys import ensure_signing_keys
from tent.services import grants
from tent.services.grants import OWNER_APP_KEY, owner_settings_app
from tent.services.publishing import Publisher
from tent.store.posts import PostStore
from tent.store.state import ServerState

__all__ = ["OWNER_APP_KEY", "ensure_meta_post", "ensure_owner_app", "ensure_server_credentials"]
SERVER_CREDENTIALS_KEY = "server_credentials"


def endpoint_urls(settings: Settings) -> dict[str, str]:
    """The ten endpoint templates of the meta post, with tentd's paths (D-04)."""
    root = settings.root
    return {
        "oauth_auth": f"{root}/oauth/authorize",
        "oauth_token": f"{root}/oauth/token",
        "posts_feed": f"{root}/posts",
        "new_post": f"{root}/posts",
        "post": f"{root}/posts/{{entity}}/{{post}}",
        "post_attachment": f"{root}/posts/{{entity}}/{{post}}/attachments/{{name}}",
        "attachment": f"{root}/attachments/{{entity}}/{{digest}}",
        "batch": f"{root}/batch",
        "server_info": f"{root}/server",
        "discover": f"{root}/discover?entity={{entity}}",
    }


def meta_content(
    settings: Settings, profile: dict[str, Any] | None, keys: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "entity": settings.entity,
        "profile": profile or {},
        "servers": [{"version": "0.3", "preference": 0, "urls": endpoint_urls(settings)}],
        "keys": public_keys(keys),
    }


def meta_version(
    settings: Settings, current: dict[str, Any], keys: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """A new version of the meta post when the entity, endpoints or keys changed, else None."""
    content = meta_content(settings, current.get("content", {}).get("profile"), keys)
    if {k: current["content"].get(k) for k in content} == content:
        return None
    body = {
        "type": META_TYPE,
        "content": {**current["content"], **content},
        "version": {"parents": [{"version": current["version"]["id"]}]},
    }
    return build_new_version(body, current, now=now_ms())


async def ensure_meta_post(settings: Settings, posts: PostStore, publisher: Publisher) -> dict[str, Any]:
    """Create the meta post, or a new version of it when the configured URLs changed (or it
    does not list the signing keys yet, which are made here at first start). A new version
    goes to every relationship, as any meta change does."""
    keys = await ensure_signing_keys(posts)
    current = await posts.latest_of_type(settings.entity, META_TYPE)
    if current is None:
        post = build_new_post(
            {"type": META_TYPE, "content": meta_content(settings, None, keys)},
            entity=settings.entity,
            now=now_ms(),
        )
        await posts.create(post)
        return post
    post = meta_version(settings, current, keys)
    if post is None:
        return current
    await publisher.publish(post, new=False)
    return post


async def ensure_owner_app(settings: Settings, posts: PostStore) -> dict[str, Any]:
    """A fully authorized app for the owner's own tools: all types, every scope."""
    state = ServerState(posts.db)
    known = await state.get(OWNER_APP_KEY)
    if known is not None:
        creds = await posts.get(settings.entity, known["credentials_id"])
        if creds is not None:
            return _credentials_json(settings, known["app_id"], creds)
    app_post, app_creds = grants.build_app_registration(owner_settings_app(settings), entity=settings.entity)
    types, scopes = grants.requested_grant(app_post)
    auth, creds = grants.build_grant(app_post, entity=settings.entity, types=types, scopes=scopes)
    async with posts.db.transaction():
        await grants.store_posts(posts, app_post, app_creds, auth, creds)
        await state.set(OWNER_APP_KEY, {"app_id": app_post["id"], "credentials_id": creds["id"]})
    return _credentials_json(settings, app_post["id"], creds)


async def ensure_server_credentials(posts: PostStore) -> dict[str, str]:
    """The server's own Hawk secret: signs the bewit URLs it hands out, acts as owner."""
    fresh = {"id": new_id(), "hawk_key": secrets.token_hex(32)}
    return await ServerState(posts.db).set_if_absent(SERVER_CREDENTIALS_KEY, fresh)


def _credentials_json(settings: Settings, app_id: str, creds: dict[str, Any]) -> dict[str, Any]:
    return {
        "entity": settings.entity,
        "app_id": app_id,
        "id": creds["id"],
        "hawk_key": creds["content"]["hawk_key"],
        "hawk_algorithm": creds["content"]["hawk_algorithm"],
    }
