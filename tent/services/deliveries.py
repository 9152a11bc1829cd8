"""The owner's say over deliveries (see who has a post, retry now, give up) and the
deliveries a peer's change makes pointless (it unsubscribed, the relationship is gone:
cancelled, not retried for a week, D-67). Sending itself is the outbox's."""

from __future__ import annotations

import logging

from tent.core.dispatch import DELETE_BASE, still_wanted
from tent.core.posts import now_ms
from tent.delivery.outbox import Outbox
from tent.store.federation import Delivery, FederationStore

log = logging.getLogger(__name__)


class Deliveries:
    def __init__(self, store: FederationStore, outbox: Outbox | None = None) -> None:
        self.store = store
        self.outbox = outbox  # None in commands that send nothing

    async def for_post(self, entity: str, post_id: str) -> list[Delivery]:
        return await self.store.for_post(entity, post_id)

    async def open(self) -> list[Delivery]:
        return await self.store.open_deliveries()

    async def retry_now(self, delivery_id: int) -> Delivery | None:
        """A pending or failed delivery no worker is sending, due at once."""
        return await self.store.retry_now(delivery_id, now_ms())

    async def give_up(self, delivery_id: int) -> Delivery | None:
        """Stop a pending delivery: it fails for good and is reported like any failure."""
        assert self.outbox is not None, "only a serving process gives up deliveries"
        return await self.outbox.give_up(delivery_id)

    async def unsubscribed(self, entity: str) -> int:
        """The entity dropped a subscription: its pending deliveries that no subscription,
        mention, delete or meta rule still asks for are cancelled, in the caller's unit."""
        selectors = await self.store.selectors_of(entity)
        stale = [
            delivery_id
            for delivery_id, post_type, mentioned in await self.store.pending_to(entity)
            if not still_wanted(post_type, mentioned, selectors)
        ]
        return await self._cancel(entity, stale, "cancelled: the recipient unsubscribed")

    async def relationship_removed(self, entity: str) -> int:
        """The relationship with the entity is gone: nothing but deletes is sent to it any more."""
        stale = [
            delivery_id
            for delivery_id, post_type, _ in await self.store.pending_to(entity)
            if not post_type.startswith(DELETE_BASE + "#")
        ]
        return await self._cancel(entity, stale, "cancelled: the relationship was removed")

    async def _cancel(self, entity: str, ids: list[int], reason: str) -> int:
        cancelled = await self.store.cancel(ids, reason) if ids else 0
        if cancelled:
            log.info("%d pending deliveries to %s %s", cancelled, entity, reason)
        return cancelled
