"""Builds the services of one process over its stores, and subscribes every in-memory cache
to the changes it is built from: the one place a newcomer finds what is cached and what
empties it (D-78)."""

from __future__ import annotations

from dataclasses import dataclass

from tent.auth.authenticator import Authenticator
from tent.config import Settings
from tent.delivery.federation import Federation
from tent.delivery.outbox import Outbox
from tent.services.deliveries import Deliveries
from tent.services.following import Follows
from tent.services.grants import Grants
from tent.services.posts import Posts
from tent.services.publishing import Publisher
from tent.services.reading import Reader
from tent.services.rendering import Views
from tent.store.auth import AuthStore
from tent.store.changes import Change, Changes
from tent.store.federation import FederationStore
from tent.store.posts import PostStore
from tent.store.state import ServerState

# What each cache is built from (a delete of any post counts for all: it may be one of them).
CREDENTIALS_SOURCES = frozenset({Change.APP, Change.GRANT, Change.CREDENTIALS, Change.DELETE})
AUDIENCE_SOURCES = frozenset(
    {Change.SUBSCRIPTION, Change.RELATIONSHIP, Change.APP, Change.GRANT, Change.DELETE}
)
RELATIONSHIP_SOURCES = frozenset({Change.RELATIONSHIP, Change.DELETE})
BODY_SOURCES = frozenset({Change.DELETE})
VIEW_SOURCES = frozenset({Change.DELETE})


@dataclass(slots=True)
class Services:
    posts: Posts
    grants: Grants
    follows: Follows
    deliveries: Deliveries
    reader: Reader
    views: Views


def build_services(
    settings: Settings,
    store: PostStore,
    auth_store: AuthStore,
    federation_store: FederationStore,
    publisher: Publisher,
    federation: Federation,
    outbox: Outbox | None,
) -> Services:
    deliveries = Deliveries(federation_store, outbox)
    posts = Posts(settings, store, federation_store, publisher, federation, deliveries)
    return Services(
        posts=posts,
        grants=Grants(settings, posts, auth_store, ServerState(store.db)),
        follows=Follows(settings, posts, federation_store),
        deliveries=deliveries,
        reader=Reader(settings, store, federation.proxy),
        views=Views(),
    )


def subscribe_caches(
    changes: Changes,
    authenticator: Authenticator,
    publisher: Publisher,
    federation_store: FederationStore,
    federation: Federation,
    views: Views,
) -> None:
    """Every cache of the process, emptied after each committed change of its sources, made
    here or in any other process on the database."""
    changes.subscribe(authenticator.forget, CREDENTIALS_SOURCES)
    changes.subscribe(publisher.invalidate, AUDIENCE_SOURCES)
    changes.subscribe(federation_store.forget_relationships, RELATIONSHIP_SOURCES)
    changes.subscribe(federation.forget_bodies, BODY_SOURCES)
    changes.subscribe(views.forget, VIEW_SOURCES)
