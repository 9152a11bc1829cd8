"""Builds the aiohttp Application: settings, database, routes, middlewares."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from tent.auth.authenticator import Authenticator
from tent.auth.hawk import Credentials
from tent.bootstrap import ensure_meta_post, ensure_server_credentials
from tent.config import Settings
from tent.core.beacon import MANIFEST_PATH
from tent.core.posts import now_ms
from tent.delivery.beacon import TurfVerifier
from tent.delivery.federation import Federation
from tent.delivery.outbox import Outbox
from tent.handlers import (
    attachments,
    auth_requests,
    batch,
    beacon,
    cors,
    discovery,
    federation,
    feed,
    health,
    measure,
    middleware,
    oauth,
    owner,
    owner_app,
    pages,
    posts,
)
from tent.handlers.common import (
    AUTH_STORE,
    AUTHENTICATOR,
    BLOBS,
    DATABASE,
    FEDERATION,
    FEDERATION_STORE,
    OUTBOX,
    POSTS,
    PUBLISHER,
    SERVER_CREDENTIALS,
    SERVICES,
    SETTINGS,
    STATE,
    TURF_VERIFIER,
)
from tent.http_input import HANDLER_ARGS, quiet_parser_errors
from tent.monitoring.loop_lag import LoopLag
from tent.monitoring.metrics import Metrics
from tent.services.container import build_services, subscribe_caches
from tent.services.publishing import Publisher
from tent.store import db
from tent.store.auth import AuthStore
from tent.store.blobs import BlobStore
from tent.store.changes import Changes
from tent.store.federation import FederationStore
from tent.store.monitoring import MonitoringStore
from tent.store.posts import PostStore
from tent.store.state import ServerState

log = logging.getLogger(__name__)
NONCE_SWEEP_SECONDS = 60.0


async def open_database(settings: Settings) -> tuple[str, object | None]:
    """The configured PostgreSQL, or the embedded one under the data directory."""
    if settings.database_url:
        return settings.database_url, None
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, db.start_embedded, settings.data_dir)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[measure.measure, cors.preflight, middleware.errors, middleware.principal],
        client_max_size=settings.max_body_size,
        handler_args=HANDLER_ARGS,
    )
    app[SETTINGS] = settings
    app[measure.METRICS] = Metrics()
    quiet_parser_errors()
    app.cleanup_ctx.append(_database)
    app.on_response_prepare.append(cors.add_headers)
    app.on_response_prepare.append(middleware.sign)
    pages.setup(app)
    add_routes(app, settings.path_prefix)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    dsn, embedded = await open_database(settings)
    pool = await db.create_pool(dsn, settings.db_pool_size)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn)
        database = db.Database(pool)
        changes = Changes(database)
        await changes.start()
        app[DATABASE] = database
        app[STATE] = ServerState(database)
        app[POSTS] = PostStore(database, changes)
        app[AUTH_STORE] = AuthStore(database)
        app[BLOBS] = BlobStore(pool)
        await app[BLOBS].forget_stale_uploads(now_ms() - 24 * 3600 * 1000)
        app[FEDERATION_STORE] = FederationStore(database, changes)
        app[PUBLISHER] = Publisher(settings, app[POSTS], app[FEDERATION_STORE])
        await ensure_meta_post(settings, app[POSTS], app[PUBLISHER])
        server = await ensure_server_credentials(app[POSTS])
        app[SERVER_CREDENTIALS] = Credentials(server["id"], server["hawk_key"])
        app[AUTHENTICATOR] = Authenticator(settings, app[AUTH_STORE], app[SERVER_CREDENTIALS], changes)
        app[FEDERATION] = Federation(
            settings, app[POSTS], app[FEDERATION_STORE], app[PUBLISHER], app[SERVER_CREDENTIALS]
        )
        app[TURF_VERIFIER] = TurfVerifier(
            app[FEDERATION].http, app[FEDERATION].discovery, settings.beacon_timeout
        )
        outbox = Outbox(
            settings,
            app[FEDERATION_STORE],
            app[POSTS],
            app[FEDERATION],
            app[PUBLISHER],
            on_attempt=app[measure.METRICS].delivery_attempt,
        )
        await outbox.start()
        app[OUTBOX] = outbox
        app[SERVICES] = build_services(
            settings,
            app[POSTS],
            app[AUTH_STORE],
            app[FEDERATION_STORE],
            app[PUBLISHER],
            app[FEDERATION],
            outbox,
        )
        subscribe_caches(
            changes,
            app[AUTHENTICATOR],
            app[PUBLISHER],
            app[FEDERATION_STORE],
            app[FEDERATION],
            app[SERVICES].views,
        )
        app[health.MONITORING_STORE] = MonitoringStore(pool)
        lag = LoopLag(app[measure.METRICS].loop_lag.observe)
        lag.start()
        sweeper = asyncio.create_task(_sweep_nonces(app[AUTHENTICATOR]), name="tent-nonce-sweeper")
        # Objects made at start live as long as the process: keep them out of the garbage
        # collector's full passes, which otherwise stall every request now and then.
        gc.collect()
        gc.freeze()
        yield
        sweeper.cancel()
        await lag.stop()
        await outbox.stop()
        await app[FEDERATION].close()
        await changes.stop()
    finally:
        await db.close_pool(pool)
        del embedded  # the embedded server stops when its last user exits


async def _sweep_nonces(authenticator: Authenticator) -> None:
    """Expired nonces leave the shared table once a minute (any process may sweep)."""
    while True:
        await asyncio.sleep(NONCE_SWEEP_SECONDS)
        try:
            await authenticator.forget_old_nonces()
        except db.UNAVAILABLE as exc:
            log.warning("cannot sweep old nonces: %s", exc)


def add_routes(app: web.Application, prefix: str) -> None:
    r = app.router
    # At the host's root whatever the entity's path: sites publish manifests there (seed 001).
    r.add_get(MANIFEST_PATH, beacon.manifest)
    r.add_get(prefix + "/healthz", health.healthz)
    r.add_get(prefix + "/readyz", health.readyz)
    if app[SETTINGS].metrics_token:  # off unless a token is set: then a 404 like any unknown path
        r.add_get(prefix + "/metrics", health.metrics)
    r.add_get(prefix + "/oauth/authorize", oauth.authorize)
    r.add_post(prefix + "/oauth/authorize", oauth.decide)
    r.add_post(prefix + "/oauth/token", oauth.token)
    r.add_post(prefix + "/oauth/requests", auth_requests.create)
    r.add_get(prefix + "/oauth/requests", auth_requests.listing)
    r.add_get(prefix + "/oauth/requests/{stamp}", auth_requests.show)
    r.add_put(prefix + "/oauth/requests/{stamp}", auth_requests.decide_api)
    r.add_delete(prefix + "/oauth/requests/{stamp}", auth_requests.cancel)
    r.add_get(prefix + "/owner", owner_app.home)
    r.add_post(prefix + "/owner/login", owner.login)
    r.add_post(prefix + "/owner/logout", owner.logout)
    r.add_post(prefix + "/owner/requests/{stamp}", auth_requests.decide_page)
    r.add_post(prefix + "/owner/posts", owner_app.compose)
    r.add_post(prefix + "/owner/repost", owner_app.repost)
    r.add_get(prefix + "/owner/attachments/{tail:.+}", owner_app.attachment)
    r.add_get(prefix + "/owner/people", owner_app.people)
    r.add_post(prefix + "/owner/follow", owner_app.follow)
    r.add_post(prefix + "/owner/unfollow", owner_app.unfollow)
    r.add_get(prefix + "/owner/apps", owner_app.apps)
    r.add_post(prefix + "/owner/apps/{grant}/revoke", owner_app.revoke)
    r.add_get(prefix + "/owner/deliveries", owner_app.deliveries)
    r.add_post(prefix + "/owner/deliveries/{id}/retry", owner_app.retry_delivery)
    r.add_post(prefix + "/owner/deliveries/{id}/give-up", owner_app.give_up_delivery)
    r.add_get(prefix + "/owner/profile", owner_app.profile_page)
    r.add_post(prefix + "/owner/profile", owner_app.save_profile)
    r.add_get(prefix + pages.STYLE_PATH, pages.stylesheet)
    r.add_get(prefix + "/", discovery.entity_root)
    if prefix:
        r.add_get(prefix, discovery.entity_root)
    r.add_get(prefix + "/server", discovery.server_info)
    r.add_post(prefix + "/batch", batch.batch)
    r.add_get(prefix + "/discover", federation.discover)
    r.add_get(prefix + "/deliveries", federation.deliveries)
    r.add_post(prefix + "/deliveries/{id}/retry", federation.retry)
    r.add_post(prefix + "/deliveries/{id}/give-up", federation.give_up)
    r.add_get(prefix + "/attachments/{tail:.+}", attachments.attachment)
    r.add_get(prefix + "/posts", feed.posts_feed)
    r.add_post(prefix + "/posts", posts.new_post)
    r.add_get(prefix + "/posts/{tail:.+}", posts.get_post)
    r.add_put(prefix + "/posts/{tail:.+}", posts.put_post)
    r.add_delete(prefix + "/posts/{tail:.+}", posts.delete_post)
