"""The entity's Ed25519 signing keys (seed 001's `life`): made at first start, kept in
server_state beside the server's Hawk secret, published in the meta post, rotated by
`tent keys rotate`. The newest life signs new proofs; every life stays published."""

from __future__ import annotations

from typing import Any

from tent.config import Settings
from tent.core import beacon
from tent.core.posts import now_ms
from tent.store.posts import PostStore
from tent.store.state import ServerState

SIGNING_KEYS_KEY = "signing_keys"


async def ensure_signing_keys(posts: PostStore) -> list[dict[str, Any]]:
    """The keys, making the first one if there is none (two processes starting at once
    agree on whichever was stored first). A key is generated only when none is stored: every
    start used to make one and throw it away, loading the cryptography package for nothing."""
    keys = await signing_keys(posts)
    if keys:
        return keys
    stored = await ServerState(posts.db).set_if_absent(
        SIGNING_KEYS_KEY, {"keys": [beacon.new_key(1, now_ms())]}
    )
    return stored["keys"]


async def signing_keys(posts: PostStore) -> list[dict[str, Any]]:
    stored = await ServerState(posts.db).get(SIGNING_KEYS_KEY)
    return stored["keys"] if stored else []


def newest(keys: list[dict[str, Any]]) -> dict[str, Any]:
    return max(keys, key=lambda k: k["life"])


async def rotate(settings: Settings, posts: PostStore) -> int:
    """Add the key of the next life and publish a new meta version listing it, in one
    transaction; the version reaches every relationship like any meta change."""
    from tent.bootstrap import meta_version
    from tent.core.type_uris import META_TYPE
    from tent.services.publishing import Publisher
    from tent.store.federation import FederationStore

    await ensure_signing_keys(posts)
    publisher = Publisher(settings, posts, FederationStore(posts.db, posts.changes))
    state = ServerState(posts.db)
    async with posts.db.transaction():
        stored = await state.get_for_update(SIGNING_KEYS_KEY)
        keys = stored["keys"]
        key = beacon.new_key(newest(keys)["life"] + 1, now_ms())
        keys = [*keys, key]
        await state.set(SIGNING_KEYS_KEY, {"keys": keys})
        current = await posts.latest_of_type(settings.entity, META_TYPE)
        assert current is not None, "ensure_meta_post ran before"
        version = meta_version(settings, current, keys)
        if version is not None:
            await publisher.publish(version, new=False)
    return key["life"]
