"""Apps and their grants: the posts that registration and authorization create.

An app registers with an app post and gets *app credentials* (a credentials post that
mentions it). Authorizing it creates an app-auth post (what it may read, write, and which
scopes) and the credentials of that grant, whose id and key the app then signs with.
"""

from __future__ import annotations

import secrets
from typing import Any

from tent.config import Settings
from tent.core.posts import build_new_post, new_id, now_ms
from tent.core.type_uris import APP_AUTH_TYPE, APP_TYPE, CREDENTIALS_APP_AUTH_TYPE, CREDENTIALS_APP_TYPE
from tent.store.posts import PostStore

PRIVATE = {"public": False}
TOKEN_TYPE = "https://tent.io/oauth/hawk-token"


def _credentials_post(
    entity: str, cred_type: str, target: dict[str, Any], post_id: str, now: int
) -> dict[str, Any]:
    return build_new_post(
        {
            "type": cred_type,
            "permissions": PRIVATE,
            "content": {"hawk_key": secrets.token_hex(32), "hawk_algorithm": "sha256"},
            "mentions": [{"entity": entity, "post": target["id"], "type": target["type"]}],
        },
        entity=entity,
        now=now,
        post_id=post_id,
    )


def build_app_registration(
    body: dict[str, Any], *, entity: str, app: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The app post (with a private mention of its credentials, which leaves its version id
    unchanged, D-60) and the app credentials post."""
    now, creds_id = now_ms(), new_id()
    mention = {"entity": entity, "post": creds_id, "type": CREDENTIALS_APP_TYPE, "public": False}
    app_post = build_new_post(
        {**body, "mentions": [*(body.get("mentions") or []), mention]}, entity=entity, now=now, app=app
    )
    return app_post, _credentials_post(entity, CREDENTIALS_APP_TYPE, app_post, creds_id, now)


def build_grant(
    app_post: dict[str, Any],
    *,
    entity: str,
    types: dict[str, list[str]],
    scopes: list[str],
    app: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An app-auth post for `app_post` and its credentials (the access token)."""
    now, creds_id = now_ms(), new_id()
    body = {
        "type": APP_AUTH_TYPE,
        "permissions": PRIVATE,
        "content": {
            "types": {"read": list(types.get("read", [])), "write": list(types.get("write", []))},
            "scopes": list(scopes),
        },
        "mentions": [
            {
                "entity": entity,
                "post": app_post["id"],
                "type": app_post["type"],
                "version": app_post["version"]["id"],
            },
            {"entity": entity, "post": creds_id, "type": CREDENTIALS_APP_AUTH_TYPE, "public": False},
        ],
        **(extra or {}),
    }
    auth = build_new_post(body, entity=entity, now=now, app=app)
    return auth, _credentials_post(entity, CREDENTIALS_APP_AUTH_TYPE, auth, creds_id, now)


def requested_grant(app_post: dict[str, Any]) -> tuple[dict[str, list[str]], list[str]]:
    """What an app asks for in its app post: types to read and write, and scopes."""
    content = app_post.get("content") or {}
    types = content.get("types") or {}
    return (
        {"read": list(types.get("read") or []), "write": list(types.get("write") or [])},
        list(content.get("scopes") or []),
    )


def token_response(credentials: dict[str, Any]) -> dict[str, Any]:
    return {
        "access_token": credentials["id"],
        "hawk_key": credentials["content"]["hawk_key"],
        "hawk_algorithm": credentials["content"]["hawk_algorithm"],
        "token_type": TOKEN_TYPE,
    }


async def store_posts(posts: PostStore, *new: dict[str, Any], conn: Any = None) -> None:
    """Create several posts atomically."""
    if conn is not None:
        for post in new:
            await posts.create(post, conn)
        return
    async with posts.pool.acquire() as c, c.transaction():
        for post in new:
            await posts.create(post, c)


def app_summary(app_post: dict[str, Any]) -> dict[str, Any]:
    """The `app` member set on posts an app creates: {id, name, url}."""
    content = app_post.get("content") or {}
    return {"id": app_post["id"], "name": content.get("name", ""), "url": content.get("url", "")}


def owner_settings_app(settings: Settings) -> dict[str, Any]:
    return {
        "type": APP_TYPE,
        "permissions": PRIVATE,
        "content": {
            "name": "Owner",
            "description": "The owner's own tools (tent credentials)",
            "url": settings.entity,
            "redirect_uri": settings.entity,
            "types": {"read": ["all"], "write": ["all"]},
            "scopes": ["import", "permissions"],
        },
    }
