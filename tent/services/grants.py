"""Apps and their grants: the posts that registration and authorization create.

An app registers with an app post and gets *app credentials* (a credentials post that
mentions it). Authorizing it creates an app-auth post (what it may read, write, and which
scopes) and the credentials of that grant, whose id and key the app then signs with.
"""

from __future__ import annotations

import secrets
from typing import Any

from tent.config import Settings
from tent.core.errors import NotFound, TentError, Unauthorized
from tent.core.posts import build_new_post, new_id, now_ms, restrict_permissions
from tent.core.principal import OWNER, Principal
from tent.core.type_uris import (
    APP_AUTH_BASE,
    APP_AUTH_TYPE,
    APP_BASE,
    APP_TYPE,
    CREDENTIALS_APP_AUTH_TYPE,
    CREDENTIALS_APP_TYPE,
)
from tent.core.types import parse_type
from tent.services.posts import Posts
from tent.store.auth import AuthRequest, AuthStore
from tent.store.posts import PostStore
from tent.store.state import ServerState

PRIVATE = {"public": False}
TOKEN_TYPE = "https://tent.io/oauth/hawk-token"
OWNER_APP_KEY = "owner_app"
CODE_LIFETIME_MS = 10 * 60 * 1000


class RequestSettled(TentError):
    """The authorization request is no longer pending (409, naming its result)."""

    def __init__(self, result: str) -> None:
        super().__init__(f"Request is already {result}", 409, result=result)


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


async def store_posts(posts: PostStore, *new: dict[str, Any]) -> None:
    """Create several posts atomically, in the caller's unit of work or one of their own."""
    async with posts.db.transaction():
        for post in new:
            await posts.create(post)


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


def is_grant(post: dict[str, Any] | None) -> bool:
    parsed = parse_type(post["type"]) if post else None
    return parsed is not None and parsed.base_version == APP_AUTH_BASE


def _mentioned_app(post: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (
            m
            for m in post.get("mentions") or []
            if str(m.get("type", "")).startswith(APP_BASE + "#") and m.get("post")
        ),
        None,
    )


class Grants:
    """Registering apps, authorizing them (OAuth code, the owner's decision on a request,
    an app-auth post written directly) and revoking them: each grant's posts are stored in
    one unit of work with whatever else the step changes."""

    def __init__(self, settings: Settings, posts: Posts, auth_store: AuthStore, state: ServerState) -> None:
        self.settings = settings
        self.posts = posts
        self.store = posts.store
        self.auth_store = auth_store
        self.state = state
        self.db = posts.db

    async def find_app(self, app_id: str) -> dict[str, Any] | None:
        post = await self.store.get(self.settings.entity, app_id)
        parsed = parse_type(post["type"]) if post else None
        return post if parsed is not None and parsed.base_version == APP_BASE else None

    async def register_app(
        self, body: dict[str, Any], principal: Principal
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The app post and its app credentials (which the app fetches through the Link)."""
        body = restrict_permissions(body, principal.has_scope("permissions"))
        app_post, creds = build_app_registration(body, entity=self.settings.entity, app=principal.app)
        await store_posts(self.store, app_post, creds)
        return app_post, creds

    async def direct_grant(
        self, body: dict[str, Any], principal: Principal
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """An app-auth post created by an app allowed to (§6.10): authorizes the app it
        mentions without the browser redirect."""
        body = restrict_permissions(body, principal.has_scope("permissions"))
        mention = _mentioned_app(body)
        app_post = (
            await self.store.get(mention.get("entity") or self.settings.entity, mention["post"])
            if mention
            else None
        )
        if app_post is None or app_post["entity"] != self.settings.entity:
            raise TentError("Post must mention an app")
        content = body.get("content") or {}
        auth, creds = build_grant(
            app_post,
            entity=self.settings.entity,
            types=content.get("types") or {},
            scopes=content.get("scopes") or [],
            app=principal.app,
            extra={k: body[k] for k in ("refs", "licenses") if k in body},
        )
        await store_posts(self.store, auth, creds)
        return auth, creds

    async def grant_with_code(self, app: dict[str, Any]) -> str:
        """Authorize the app for what it asked; a single-use code for the token exchange."""
        types, scopes = requested_grant(app)
        auth, creds = build_grant(app, entity=self.settings.entity, types=types, scopes=scopes)
        code = secrets.token_urlsafe(24)
        async with self.db.transaction():
            await store_posts(self.store, auth, creds)
            await self.auth_store.add_code(code, app["id"], creds["id"], now_ms() + CODE_LIFETIME_MS)
        return code

    async def exchange_code(self, code: str, principal: Principal) -> dict[str, Any]:
        """The grant's credentials for a code, once, to the app it was made for (§6.4)."""
        app_id = await self.auth_store.code_app(code, now_ms())
        if app_id is None:
            raise TentError("Invalid token code", 403)
        if principal.kind != "app" or principal.app_post_id != app_id:
            raise Unauthorized(401, "Request must be signed using app credentials")
        used = await self.auth_store.use_code(code, now_ms())
        creds = await self.store.get(self.settings.entity, used[1]) if used else None
        if creds is None:
            raise TentError("Invalid token code", 403)
        return token_response(creds)

    async def settle_request(self, stamp: int, approve: bool) -> AuthRequest:
        """The owner's decision. Approval creates the grant in the same unit that moves the
        request to `yes`, so a request that expired or was cancelled meanwhile gets none."""
        now = now_ms()
        settled = None
        if not approve:
            settled = await self.auth_store.settle_request(stamp, "no", now)
        else:
            entry = await self.auth_store.get_request(stamp, now)
            if entry is None:
                raise NotFound()
            app = await self.store.get(self.settings.entity, entry.app_id)
            if app is not None and entry.result in ("sent", "got"):
                req = entry.request
                auth, creds = build_grant(
                    app,
                    entity=self.settings.entity,
                    types=req.get("types") or {},
                    scopes=req.get("scopes") or [],
                )
                async with self.db.transaction():
                    settled = await self.auth_store.settle_request(
                        stamp, "yes", now, credentials_id=creds["id"]
                    )
                    if settled is not None:
                        await store_posts(self.store, auth, creds)
        if settled is None:
            current = await self.auth_store.get_request(stamp, now_ms())
            if current is None:
                raise NotFound()
            raise RequestSettled(current.result)
        return settled

    async def cancel_request(self, stamp: int) -> AuthRequest:
        settled = await self.auth_store.settle_request(stamp, "abort", now_ms())
        if settled is None:
            current = await self.auth_store.get_request(stamp, now_ms())
            raise RequestSettled(current.result if current else "gone")
        return settled

    async def request_credentials(self, entry: AuthRequest) -> dict[str, Any] | None:
        """The token of an approved request, for the app that asked."""
        if entry.result != "yes" or not entry.credentials_id:
            return None
        creds = await self.store.get(self.settings.entity, entry.credentials_id)
        return token_response(creds) if creds is not None else None

    async def own_app_id(self) -> str | None:
        """The server's own app (`tent credentials`), which the owner's pages may not revoke."""
        known = await self.state.get(OWNER_APP_KEY)
        return known.get("app_id") if isinstance(known, dict) else None

    async def revoke(self, grant_id: str) -> str:
        """Delete a grant and its key (the API's DELETE of an app-auth post does the same,
        through `Posts.delete`). Returns the app's name."""
        grant = await self.store.get(self.settings.entity, grant_id)
        if grant is None or not is_grant(grant):
            raise NotFound()
        app_ref = _mentioned_app(grant) or {}
        if app_ref.get("post") and app_ref.get("post") == await self.own_app_id():
            raise TentError("The server's own app cannot be revoked here", 403)
        app = await self.store.get(self.settings.entity, app_ref["post"]) if app_ref.get("post") else None
        await self.posts.delete(grant, OWNER)
        return str(((app or {}).get("content") or {}).get("name") or "the app")
